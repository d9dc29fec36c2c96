"""How the browser tests start Debian's Chromium (never a browser Playwright downloads).

SwiftShader gives headless Chromium the WebGL the map needs, on a machine with no GPU.
"""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]

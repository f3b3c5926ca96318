"""Debian's headless Chromium through selenium, for the tests that walk
an offline page, and waiting for a file the page downloads."""

import shutil
import time


def headless_chrome(downloads=None):
  """A headless Chrome driver; with `downloads`, files the page saves go
  to that folder."""
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  options = webdriver.ChromeOptions()
  for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                   "--disable-dev-shm-usage"):
    options.add_argument(argument)
  service = webdriver.ChromeService(executable_path=shutil.which(
      "chromedriver"))
  browser = webdriver.Chrome(options=options, service=service)
  if downloads is not None:
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {
        "behavior": "allow", "downloadPath": str(downloads)})
  return browser


def downloaded(path, seconds: float = 10.0):
  """`path` once the browser has written it (or after `seconds`)."""
  for _ in range(int(seconds * 10)):
    if path.exists():
      break
    time.sleep(0.1)
  return path

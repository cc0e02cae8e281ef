#!/usr/bin/env python3
"""Drives the marketer console in headless Chromium against a running `tailor serve`.

    python3 console_test.py --base http://127.0.0.1:18480 --admin-token A --editor-token E \
        --policy rules --component path/to/rules.wasm --screenshots /tmp/console-shots

Uses Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) so that
selenium-manager never downloads a browser. Every wait is an explicit WebDriverWait on what the
page shows; a failing step prints why, saves a screenshot and the browser's console, and the
script exits non-zero. One line is printed per step.
"""

import argparse
import json
import os
import re
import sys
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


class StepFailed(Exception):
    pass


class Console:
    """The browser, pointed at one node's console, with waits that name what they wait for."""

    def __init__(self, args):
        self.args = args
        self.base = args.base.rstrip("/")
        options = webdriver.ChromeOptions()
        options.binary_location = args.chromium
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,900",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
        self.driver.set_script_timeout(args.timeout)
        self.console_log = []

    # --- waiting -------------------------------------------------------------------------------

    def wait(self, what, condition, timeout=None):
        """Waits until `condition(driver)` is truthy; fails naming `what`."""
        try:
            return WebDriverWait(
                self.driver,
                timeout or self.args.timeout,
                poll_frequency=0.1,
                ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
            ).until(lambda d: condition(d))
        except TimeoutException:
            raise StepFailed(f"timed out after {timeout or self.args.timeout} s waiting for {what}") from None

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css, what=None):
        """Waits for a displayed element and returns it."""

        def shown(_):
            element = self.find(css)
            return element if element.is_displayed() else None

        return self.wait(what or f"{css} to be shown", shown)

    def text_of(self, css):
        return self.find(css).get_attribute("textContent").strip()

    def attr(self, css, name):
        return self.find(css).get_attribute(name)

    def click(self, css, what=None):
        """Waits for an enabled, displayed element, scrolls it into view and clicks it."""

        def ready(_):
            element = self.find(css)
            return element if element.is_displayed() and element.is_enabled() else None

        element = self.wait(what or f"{css} to be clickable", ready)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()
        return element

    def confirm_click(self, css, what):
        """Clicks a button that asks for a second click, then confirms."""
        self.click(css, f"{what} ({css}) to be clickable")
        self.wait(
            f"{what} to ask for confirmation",
            lambda _: "confirm" in self.find(css).text.lower(),
        )
        self.click(css, f"{what} to be clickable again to confirm")

    def flash(self):
        try:
            return self.text_of("#status-message")
        except NoSuchElementException:
            return ""

    def fetch_status(self, path):
        """The HTTP status of a same-origin GET made by the page (so with its cookie)."""
        return self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {credentials: 'same-origin', cache: 'no-store'})"
            ".then(r => done(r.status), e => done(String(e)));",
            path,
        )

    def fetch_json(self, path):
        """A same-origin GET's JSON body, or None when it is not a 200."""
        text = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {credentials: 'same-origin', cache: 'no-store'})"
            ".then(r => r.ok ? r.text() : null).then(done, e => done(null));",
            path,
        )
        return json.loads(text) if text else None

    # --- the page ------------------------------------------------------------------------------

    def go(self, route):
        """Navigates to `/console#<route>` and waits for the app to have started."""
        self.driver.get(f"{self.base}/console#{route}")
        self.wait("the console to start (body[data-ready])", lambda _: self.attr("body", "data-ready") == "true")

    def sign_in(self, token):
        field = self.visible("#signin-token", "the sign-in form")
        field.clear()
        field.send_keys(token)
        self.click("#signin-submit")

    def editor_text(self):
        return self.find("#config-editor").get_property("value")

    def set_editor(self, text):
        editor = self.visible("#config-editor", "the config editor")
        self.driver.execute_script(
            "arguments[0].value = arguments[1];"
            "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
            editor,
            text,
        )

    def problems(self):
        return [
            (li.get_attribute("data-path"), li.find_element(By.CSS_SELECTOR, ".message").get_attribute("textContent"))
            for li in self.find_all("#config-problems li")
        ]

    def wait_checked_clean(self, what):
        """Waits for the draft's checks to finish with no problem."""

        def clean(_):
            state = self.attr("#config-problems", "data-state")
            if state == "problems":
                return None
            return state == "ok" and not self.find_all("#config-problems li")

        try:
            self.wait(what, clean)
        except StepFailed as failure:
            raise StepFailed(f"{failure}; problems shown: {self.problems()}") from None

    def active_digest(self):
        return self.attr("#active-digest", "data-digest")

    def screenshot(self, name):
        """A screenshot of the whole page (not only the window) into --screenshots."""
        path = os.path.join(self.args.screenshots, name)
        try:
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            height = min(int(size["height"]) + 1, 12000)
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": max(height, 900), "deviceScaleFactor": 1, "mobile": False},
            )
            self.driver.save_screenshot(path)
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        except WebDriverException:
            self.driver.save_screenshot(path)
        return path

    def collect_log(self):
        try:
            self.console_log.extend(self.driver.get_log("browser"))
        except WebDriverException:
            pass
        return self.console_log

    def quit(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass


def set_headline(document, text):
    """Sets the default headline (`default.render.headline`), else the first headline found;
    returns the path changed."""
    default = document.get("default") if isinstance(document, dict) else None
    if isinstance(default, dict) and isinstance(default.get("render"), dict) and "headline" in default["render"]:
        default["render"]["headline"] = text
        return "default.render.headline"

    def walk(node, path):
        if isinstance(node, dict):
            if isinstance(node.get("headline"), str):
                node["headline"] = text
                return f"{path}.headline" if path else "headline"
            for key, value in node.items():
                found = walk(value, f"{path}.{key}" if path else key)
                if found:
                    return found
        elif isinstance(node, list):
            for index, value in enumerate(node):
                found = walk(value, f"{path}[{index}]")
                if found:
                    return found
        return None

    found = walk(document, "")
    if not found:
        raise StepFailed("the config has no headline to change")
    return found


OPERATOR_KEYS = ("op", "operator")
KNOWN_OPERATORS = {"eq", "ne", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "exists",
                   "==", "!=", ">", ">=", "<", "<=", "equals", "any", "all", "not"}


def break_an_operator(document):
    """Puts the unknown operator `~=` in the first rule condition (its top operator, else an
    `op` member or a known operator inside it); returns the path changed."""
    rules = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(rules, list) or not rules:
        return break_an_arm(document)

    def walk(node, path):
        if isinstance(node, dict):
            for key in OPERATOR_KEYS:
                if isinstance(node.get(key), str):
                    node[key] = "~="
                    return f"{path}.{key}"
            for key in list(node):
                if key in KNOWN_OPERATORS:
                    node["~="] = node.pop(key)
                    return path
            for key, value in node.items():
                found = walk(value, f"{path}.{key}")
                if found:
                    return found
        elif isinstance(node, list):
            for index, value in enumerate(node):
                found = walk(value, f"{path}[{index}]")
                if found:
                    return found
        return None

    # A JSON Logic condition is an object of one member, its operator: rename that.
    for index, rule in enumerate(rules):
        when = rule.get("when") if isinstance(rule, dict) else None
        if isinstance(when, dict) and len(when) == 1:
            (operator, arguments), = when.items()
            rule["when"] = {"~=": arguments}
            return f"rules[{index}].when"
    for index, rule in enumerate(rules):
        if isinstance(rule, dict) and "when" in rule:
            found = walk(rule["when"], f"rules[{index}].when")
            if found:
                return found
    raise StepFailed("found no operator in any rule's `when` to replace")


def break_an_arm(document):
    """For a config without rules: gives an experiment arm a weight that is not a number (the
    node's own experiment checks refuse it); returns the path changed."""
    experiments = document.get("experiments") if isinstance(document.get("experiments"), list) else [document.get("experiment")]
    for index, experiment in enumerate(experiments):
        arms = experiment.get("arms") if isinstance(experiment, dict) else None
        if isinstance(arms, dict) and arms:
            arm = next(iter(arms))
            arms[arm] = "heavy"
            base = f"experiments[{index}]" if "experiments" in document else "experiment"
            return f"{base}.arms.{arm}"
    raise StepFailed("the config has neither rules nor an experiment to break")


def names(problem, path):
    """Whether a shown problem `(path, message)` is about `path` (or its parent, or names it)."""
    shown, message = problem
    parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
    return bool(shown) and (shown == path or shown.startswith(parent)) or path in message


def run(args):
    os.makedirs(args.screenshots, exist_ok=True)
    c = Console(args)
    steps = []
    state = {}

    def step(number, title):
        def register(function):
            steps.append((number, title, function))
            return function

        return register

    @step(1, "a wrong token is refused and leaves no session")
    def wrong_token():
        c.go("/policies")
        c.sign_in("not-the-token-" + "x" * 16)
        error = c.visible("#signin-error", "the sign-in error")
        c.wait("the sign-in error text", lambda _: error.text.strip())
        if c.find("#topbar").is_displayed():
            raise StepFailed("the header is shown after a refused sign-in")
        status = c.fetch_status("/console/session")
        if status != 401:
            raise StepFailed(f"GET /console/session answered {status} after a refused sign-in, not 401")
        return f"error shown: {error.text.strip()!r}; GET /console/session → 401"

    @step(2, "the admin signs in and sees the policy list")
    def admin_signs_in():
        c.sign_in(args.admin_token)
        c.wait("the role 'admin' in the header", lambda _: c.text_of("#session-role") == "admin")
        c.visible(f'[data-testid="policy-row-{args.policy}"]', f"the policy {args.policy!r} in the list")
        names = [r.get_attribute("data-policy") for r in c.find_all("#policies-table tbody tr")]
        c.screenshot("policies.png")
        return f"role admin; policies listed: {', '.join(names)}"

    @step(3, "a changed headline previews as changed decisions")
    def preview_a_change():
        c.click(f"#policy-link-{args.policy}", f"the link to {args.policy}")
        c.visible("#config-editor", "the config editor")
        c.wait("the policy page to show the active version", lambda _: c.active_digest())
        state["original_digest"] = c.active_digest()
        c.wait_checked_clean("the active config to check clean")
        text = c.editor_text()
        try:
            document = json.loads(text)
        except ValueError as error:
            raise StepFailed(f"the editor does not hold JSON: {error}") from None
        headline = f"Console test headline {int(time.time())}"
        path = set_headline(document, headline)
        state["edited"] = json.dumps(document, indent=2) + "\n"
        c.set_editor(state["edited"])
        c.wait_checked_clean("the edited config to check clean")
        c.click("#preview-button", "the Preview button")

        def changed(_):
            value = c.text_of("#preview-changed").replace(",", "")
            return value if re.fullmatch(r"\d+", value) else None

        try:
            count = int(c.wait("the preview's changed count", changed, timeout=max(args.timeout, 120)))
        except StepFailed:
            errors = c.find_all("#preview-error")
            if errors:
                raise StepFailed(f"the preview failed: {errors[0].text}") from None
            raise
        if count <= 0:
            raise StepFailed(f"the preview says {count} decisions change after {path} changed")
        rows = len(c.find_all("#preview-decisions tbody tr"))
        c.screenshot("preview.png")
        return f"set {path}; preview-changed = {count} ({rows} decision rows shown)"

    @step(4, "a syntax error and an unknown operator are named in the problems list")
    def invalid_fragment():
        c.set_editor('{"rules": [')
        c.wait("a syntax problem with its line and column",
               lambda _: any("line" in m and "column" in m for _, m in c.problems()))
        if c.find("#publish-now").is_enabled():
            raise StepFailed("Publish now is enabled while the draft does not parse")
        document = json.loads(state["edited"])
        path = break_an_operator(document)
        c.set_editor(json.dumps(document, indent=2) + "\n")

        def named(_):
            if c.attr("#config-problems", "data-server") not in ("problems", "ok", "error"):
                return None
            return [problem for problem in c.problems() if names(problem, path)] or None

        try:
            found = c.wait(f"a problem at {path}", named)
        except StepFailed as failure:
            server = c.attr("#config-problems", "data-server")
            raise StepFailed(f"{failure}; the node's check: {server}; problems shown: {c.problems()}") from None
        for button in ("#publish-now", "#publish-canary"):
            if c.find(button).is_enabled():
                raise StepFailed(f"{button} is enabled while the draft has problems")
        c.set_editor(state["edited"])
        c.wait_checked_clean("the restored draft to check clean")
        return f"changed {path}; shown: " + "; ".join(f"{p or '(document)'}: {m}" for p, m in found)

    @step(5, "publish as a 10% canary, then promote it")
    def canary_then_promote():
        share = c.visible("#canary-percent", "the canary share field")
        share.clear()
        share.send_keys("10")
        note = c.visible("#change-note", "the note field")
        note.clear()
        note.send_keys("Console test: new default headline")
        c.click("#publish-canary", "Publish as canary")
        c.wait("the page to show a 10% canary",
               lambda _: c.attr("#canary-share", "data-percent") in ("10", "10.0") and c.text_of("#canary-share") == "10%")
        canary = c.attr("#canary-digest", "data-digest")
        if canary == state["original_digest"]:
            raise StepFailed("the canary has the active version's digest")
        c.confirm_click("#promote-canary", "Promote")
        c.wait("the canary to be gone", lambda _: c.find_all("#canary-none"))
        c.wait("the active digest to change", lambda _: c.active_digest() not in (None, state["original_digest"]))
        if c.active_digest() != canary:
            raise StepFailed(f"the active version {c.active_digest()} is not the promoted canary {canary}")
        c.wait("the note and who in the history", lambda _: any(
            "Console test: new default headline" in row.text and "console (admin)" in row.text
            for row in c.find_all("#history-table tbody tr")))
        c.screenshot("policy.png")
        return f"canary {canary[:19]} at 10% promoted; active was {state['original_digest'][:19]}"

    @step(6, "roll back to the earlier version")
    def roll_back():
        promoted = c.active_digest()
        c.confirm_click("#rollback", "Roll back")
        c.wait("the active digest to be the earlier one again",
               lambda _: c.active_digest() == state["original_digest"])
        c.wait("a rollback in the history", lambda _: c.find_all("#history-table tr.action-rolled_back"))
        return f"active {state['original_digest'][:19]} again (from {promoted[:19]})"

    @step(7, "the experiments and status pages render")
    def experiments_and_status():
        c.click("#nav-experiments", "the Experiments link")
        c.wait("the experiments page", lambda _: c.find_all("#experiments-table, #experiments-empty, #experiments-off"))
        said = []
        links = c.find_all('#experiments-table [data-testid="experiment-link"]')
        target = links[0].get_attribute("href").split("#", 1)[1] if links else None
        if links:
            c.screenshot("experiments.png")
            said.append(f"{len(links)} experiments listed")
        else:
            said.append(c.text_of("#experiments-empty, #experiments-off"))
            target = defined_experiment(c)
        if target:
            c.driver.get(f"{c.base}/console#{target}")
            c.wait("the experiment chart", lambda _: c.find_all("#experiment-chart [data-testid^='chart-arm-']"))
            arms = len(c.find_all("#experiment-arms tbody tr"))
            c.screenshot("experiment.png")
            said.append(f"{target}: chart and {arms} arms")
        c.click("#nav-status", "the Status link")
        profiles = c.wait("the snapshot profile count",
                          lambda _: re.fullmatch(r"\d+", c.attr("#status-profiles", "data-value") or "") and c.attr("#status-profiles", "data-value"))
        c.screenshot("status.png")
        said.append(f"status: {profiles} profiles")
        return "; ".join(said)

    @step(8, "an editor is refused a component upload but edits and previews")
    def editor_session():
        c.click("#sign-out", "Sign out")
        c.visible("#signin-token", "the sign-in form after signing out")
        if c.fetch_status("/console/session") != 401:
            raise StepFailed("the session survived signing out")
        c.sign_in(args.editor_token)
        c.wait("the role 'editor' in the header", lambda _: c.text_of("#session-role") == "editor")
        c.driver.get(f"{c.base}/console#/policies/{args.policy}")
        c.visible("#config-editor", "the config editor")
        c.wait_checked_clean("the active config to check clean for the editor")
        c.find("#component-file").send_keys(os.path.abspath(args.component))
        c.click("#upload-component", "Upload")
        result = c.visible("#upload-result", "the upload's result")
        c.wait("the upload refusal", lambda _: c.attr("#upload-result", "data-code"))
        code = c.attr("#upload-result", "data-code")
        refusal = result.text.strip()
        if code != "forbidden":
            raise StepFailed(f"the upload was answered {code!r}, not forbidden: {refusal}")
        document = json.loads(c.editor_text())
        set_headline(document, f"Editor headline {int(time.time())}")
        c.set_editor(json.dumps(document, indent=2) + "\n")
        c.wait_checked_clean("the editor's draft to check clean")
        c.click("#preview-button", "the Preview button")
        count = c.wait("the editor's preview",
                       lambda _: re.fullmatch(r"\d+", c.text_of("#preview-changed").replace(",", "")) and c.text_of("#preview-changed"),
                       timeout=max(args.timeout, 120))
        return f"role editor; upload refused ({refusal}); preview-changed = {count}"

    @step(9, "no script error or CSP violation in the browser console")
    def clean_console():
        bad = [e["message"] for e in c.collect_log()
               if "Content Security Policy" in e.get("message", "") or "Uncaught" in e.get("message", "")]
        if bad:
            raise StepFailed("the browser console reports: " + " | ".join(bad[:5]))
        return f"{len(c.console_log)} console entries, none a script error or CSP violation"

    try:
        for number, title, function in steps:
            try:
                said = function()
                c.collect_log()
            except (StepFailed, WebDriverException, ValueError, KeyError) as failure:
                shot = c.screenshot(f"failure-step{number}.png")
                print(f"FAIL step {number}: {title}: {failure}", flush=True)
                if not isinstance(failure, StepFailed):
                    traceback.print_exc()
                print(f"  page: {c.driver.current_url}; status line: {c.flash()!r}; screenshot: {shot}")
                for entry in c.collect_log()[-15:]:
                    print(f"  console {entry.get('level')}: {entry.get('message')}")
                return 1
            print(f"ok step {number}: {title}: {said}", flush=True)
        print(f"{len(steps)} passed, 0 failed")
        return 0
    finally:
        c.quit()


def defined_experiment(c):
    """The route of an experiment some policy's active config defines, or None."""
    listing = c.fetch_json("/admin/v1/policies") or {}
    for policy in listing.get("policies", []):
        detail = c.fetch_json(f"/admin/v1/policies/{policy['name']}") or {}
        try:
            config = json.loads((detail.get("active") or {}).get("config") or "null")
        except ValueError:
            continue
        if not isinstance(config, dict):
            continue
        experiments = config.get("experiments") if isinstance(config.get("experiments"), list) else [config.get("experiment")]
        for experiment in experiments:
            if isinstance(experiment, dict) and isinstance(experiment.get("key"), str):
                return f"/experiments/{experiment['key']}?policy={policy['name']}"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the node, e.g. http://127.0.0.1:18480")
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--editor-token", required=True)
    parser.add_argument("--policy", default="rules", help="the policy to edit, preview and publish")
    parser.add_argument("--component", required=True, help="a .wasm to try uploading as the editor")
    parser.add_argument("--screenshots", required=True, help="folder for the screenshots")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one wait may take")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    for path, what in ((args.component, "--component"), (args.chromium, "--chromium"), (args.chromedriver, "--chromedriver")):
        if not os.path.isfile(path):
            print(f"FAIL: {what} {path} does not exist", file=sys.stderr)
            return 2
    try:
        return run(args)
    except WebDriverException as error:
        print(f"FAIL: the browser could not be started: {error.msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

// The component upload of a policy page: a new .wasm build published with the draft config.
// Shown to every role; the node decides who may (an editor gets 403 `forbidden`).

import { put, seg } from "./api.js";
import { el, replace } from "./dom.js";
import { say, sayError } from "./notify.js";

/** Reads a file as standard base64 (FileReader's data URL, without its prefix). */
function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(reader.error ?? new Error("the file could not be read"));
    reader.onload = () => {
      const url = String(reader.result);
      resolve(url.slice(url.indexOf(",") + 1));
    };
    reader.readAsDataURL(file);
  });
}

export function mountUpload(section, policy, ctx, editor) {
  const path = `/admin/v1/policies/${seg(policy.name)}`;
  const file = el("input", { id: "component-file", type: "file", accept: ".wasm,application/wasm" });
  const asCanary = el("input", { id: "upload-as-canary", type: "checkbox" });
  const button = el("button", { type: "button", id: "upload-component", class: "secondary", disabled: true }, "Upload and publish");
  const previewButton = el("button", { type: "button", id: "preview-component", class: "secondary", disabled: true }, "Preview with this component");
  const result = el("p", { id: "upload-result", class: "result", role: "status", hidden: true });
  const form = el("form", { id: "upload-form", class: "upload-form", novalidate: true },
    el("label", { for: "component-file" }, "Component (.wasm)", file),
    el("label", { for: "upload-as-canary", class: "check" }, asCanary, "As a canary (share from the field above)"),
    previewButton,
    button);

  replace(section,
    el("div", { class: "section-head" },
      el("h2", { id: "upload-title" }, "Upload a new component ", el("span", { class: "badge role" }, "admin only"))),
    el("p", { class: "lede" },
      "Publishes a new build of the policy with the draft config from the editor above (preview it first: the result appears under Preview). The node checks the component's contract, imports and fixtures before it serves it."),
    form,
    result);

  file.addEventListener("change", () => {
    button.disabled = !file.files?.length;
    previewButton.disabled = !file.files?.length;
    result.hidden = true;
  });
  previewButton.addEventListener("click", async () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    previewButton.disabled = true;
    try {
      await editor.preview({ component: await base64Of(chosen) });
    } catch (error) {
      sayError(error, "The component could not be read");
    } finally {
      previewButton.disabled = false;
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    upload();
  });
  button.addEventListener("click", upload);

  async function upload() {
    const chosen = file.files?.[0];
    if (!chosen) return;
    const config = document.getElementById("config-editor")?.value ?? "";
    const body = { config };
    if (asCanary.checked) {
      body.canary_percent = Number(document.getElementById("canary-percent")?.value ?? 10);
    }
    button.disabled = true;
    result.hidden = true;
    say(`Uploading ${chosen.name} (${Math.round(chosen.size / 1024)} KiB)…`, "info");
    try {
      body.component = await base64Of(chosen);
      const answer = await put(path, body);
      const digest = String(answer.digest ?? "").slice(0, 19);
      say(answer.status === "canary"
        ? `Published ${digest} as a ${answer.canary_percent}% canary.`
        : `Published ${digest}: it is active.`, "success");
      await ctx.refresh();
    } catch (error) {
      if (!ctx.current()) return;
      result.hidden = false;
      result.dataset.kind = "error";
      result.dataset.code = error.code ?? "";
      result.textContent = `Upload refused: ${error.message}${error.field ? ` (${error.field})` : ""}`;
      sayError(error, "Upload refused");
      button.disabled = false;
    }
  }
}

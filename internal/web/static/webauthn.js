// The security-key and passkey ceremonies, for forms marked data-webauthn="create" or "get". Every page works
// without JavaScript except these, which cannot: only the browser can talk to an authenticator.
//
// On submit, the form's fields are posted to its data-options URL, which answers with the options for
// navigator.credentials; the authenticator's answer goes into the form's "credential" field, and the form is
// submitted as usual, so the server answers with a page as it does for every other form.
"use strict";

(function () {
  function toBytes(s) {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  function toBase64URL(buf) {
    let bin = "";
    for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeOptions(o) {
    const pk = o.publicKey;
    pk.challenge = toBytes(pk.challenge);
    if (pk.user) pk.user.id = toBytes(pk.user.id);
    for (const list of [pk.excludeCredentials, pk.allowCredentials]) {
      for (const c of list || []) c.id = toBytes(c.id);
    }
    return o;
  }

  function encodeCredential(c) {
    const r = c.response;
    const response = { clientDataJSON: toBase64URL(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64URL(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toBase64URL(r.authenticatorData);
      response.signature = toBase64URL(r.signature);
      if (r.userHandle) response.userHandle = toBase64URL(r.userHandle);
    }
    return JSON.stringify({
      id: c.id,
      rawId: toBase64URL(c.rawId),
      type: c.type,
      response: response,
      clientExtensionResults: c.getClientExtensionResults(),
      authenticatorAttachment: c.authenticatorAttachment || undefined,
    });
  }

  function say(form, text) {
    const out = form.querySelector(".webauthn-status");
    if (out) {
      out.textContent = text;
      out.hidden = false;
    }
  }

  async function ceremony(form) {
    // Only what starting a ceremony needs goes to the options URL: never the password of a confirmation form.
    const fields = new URLSearchParams();
    for (const name of ["csrf_token", "kind"]) {
      const field = form.elements.namedItem(name);
      if (field) fields.set(name, field.value);
    }
    const res = await fetch(form.dataset.options, {
      method: "POST",
      body: fields,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error || "The server refused to start: " + res.status);
    const options = decodeOptions(body);
    const cred =
      form.dataset.webauthn === "create"
        ? await navigator.credentials.create(options)
        : await navigator.credentials.get(options);
    form.querySelector('[name="credential"]').value = encodeCredential(cred);
    form.submit();
  }

  for (const form of document.querySelectorAll("form[data-webauthn]")) {
    if (!window.PublicKeyCredential) {
      say(form, "This browser does not support security keys or passkeys.");
      continue;
    }
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      say(form, "Waiting for your security key or passkey…");
      ceremony(form).catch((err) => {
        // NotAllowedError is the browser's answer to a cancelled or timed-out prompt.
        say(form, err.name === "NotAllowedError" ? "The request was cancelled or timed out. Try again." : err.message);
      });
    });
  }
})();

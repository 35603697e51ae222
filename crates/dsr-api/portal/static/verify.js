// dsr portal: downloads a forwarded package and checks it in the browser, as
// `dsr verify` does: the Ed25519 signature over the canonical JSON of the manifest, then
// every file's SHA-256 against the manifest, then that the signing key is the
// organisation's. WebCrypto only; nothing leaves the browser.
(function () {
  "use strict";
  var box = document.getElementById("verify");
  if (!box || !window.crypto || !window.crypto.subtle) return;
  var button = document.getElementById("verify-button");
  var status = document.getElementById("verify-status");
  var save = document.getElementById("verify-save");
  var enc = new TextEncoder();
  button.hidden = false;

  function say(kind, text) {
    status.className = kind;
    status.textContent = text;
  }
  function msg(name, detail) {
    return (box.dataset[name] || name).replace("{detail}", detail || "");
  }

  // A JSON value whose numbers keep their text as written: the canonical form must be
  // byte for byte what the organisation signed.
  function Num(text) { this.text = text; }
  function parse(s) {
    var i = 0;
    function fail(m) { throw new Error("the package is not valid JSON (" + m + " at " + i + ")"); }
    function ws() { while (i < s.length && " \t\n\r".indexOf(s[i]) >= 0) i++; }
    function str() {
      var j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
      if (j >= s.length) fail("unterminated string");
      var out = JSON.parse(s.slice(i, j + 1));
      i = j + 1;
      return out;
    }
    function value() {
      ws();
      var c = s[i];
      if (c === "{") {
        i++;
        var o = new Map();
        ws();
        if (s[i] === "}") { i++; return o; }
        for (;;) {
          ws();
          if (s[i] !== '"') fail("key expected");
          var k = str();
          ws();
          if (s[i++] !== ":") fail("':' expected");
          o.set(k, value());
          ws();
          var d = s[i++];
          if (d === "}") return o;
          if (d !== ",") fail("',' expected");
        }
      }
      if (c === "[") {
        i++;
        var a = [];
        ws();
        if (s[i] === "]") { i++; return a; }
        for (;;) {
          a.push(value());
          ws();
          var e = s[i++];
          if (e === "]") return a;
          if (e !== ",") fail("',' expected");
        }
      }
      if (c === '"') return str();
      if (s.startsWith("true", i)) { i += 4; return true; }
      if (s.startsWith("false", i)) { i += 5; return false; }
      if (s.startsWith("null", i)) { i += 4; return null; }
      var m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(s.slice(i, i + 512));
      if (!m) fail("value expected");
      i += m[0].length;
      return new Num(m[0]);
    }
    var v = value();
    ws();
    if (i !== s.length) fail("text after the end");
    return v;
  }

  // Keys in UTF-8 byte order, as the organisation's canonical form sorts them.
  function byUtf8(a, b) {
    var x = enc.encode(a), y = enc.encode(b), n = Math.min(x.length, y.length);
    for (var k = 0; k < n; k++) if (x[k] !== y[k]) return x[k] - y[k];
    return x.length - y.length;
  }
  function canon(v) {
    if (v === null) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (v instanceof Num) return v.text;
    if (typeof v === "string") return JSON.stringify(v);
    if (Array.isArray(v)) return "[" + v.map(canon).join(",") + "]";
    var keys = Array.from(v.keys()).sort(byUtf8);
    return "{" + keys.map(function (k) { return JSON.stringify(k) + ":" + canon(v.get(k)); }).join(",") + "}";
  }
  function unhex(h) {
    if (typeof h !== "string" || !/^([0-9a-fA-F]{2})*$/.test(h)) throw new Error("not hex");
    var out = new Uint8Array(h.length / 2);
    for (var k = 0; k < out.length; k++) out[k] = parseInt(h.substr(k * 2, 2), 16);
    return out;
  }
  function hex(bytes) {
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function unbase64(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var k = 0; k < bin.length; k++) out[k] = bin.charCodeAt(k);
    return out;
  }

  async function check(text) {
    var doc = parse(text);
    if (!(doc instanceof Map) || !(doc.get("manifest") instanceof Map)) return ["bad", "no manifest"];
    var manifest = doc.get("manifest");
    var key;
    try {
      key = await crypto.subtle.importKey("raw", unhex(manifest.get("public_key")), { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      return e instanceof Error && e.message === "not hex" ? ["bad", "the manifest's public key is not hex"] : ["nocrypto"];
    }
    var signed = await crypto.subtle.verify({ name: "Ed25519" }, key, unhex(doc.get("signature")), enc.encode(canon(manifest)));
    if (!signed) return ["bad", "the signature does not match the manifest: it was altered or signed by another key"];
    var listed = new Map();
    (manifest.get("files") || []).forEach(function (f) { listed.set(f.get("path"), f.get("sha256")); });
    var seen = new Set();
    for (var f of doc.get("files") || []) {
      var path = f.get("path");
      if (!listed.has(path)) return ["bad", "file " + path + " is not in the signed manifest"];
      var bytes = f.has("base64") ? unbase64(f.get("base64")) : enc.encode(canon(f.get("json")));
      var got = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
      if (got !== listed.get(path)) return ["bad", "file " + path + " was altered"];
      seen.add(path);
    }
    for (var p of listed.keys()) if (!seen.has(p)) return ["bad", "file " + p + " is in the manifest but missing"];
    if (manifest.get("public_key") !== box.dataset.key) return ["otherkey"];
    return ["ok"];
  }

  button.addEventListener("click", async function () {
    button.disabled = true;
    say("", msg("working"));
    var text;
    try {
      var resp = await fetch(box.dataset.url, { credentials: "omit", cache: "no-store" });
      text = await resp.text();
      if (!resp.ok) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var why = doc.querySelector("[role=alert]");
        say("bad", msg("failed", (why ? why.textContent : "HTTP " + resp.status)));
        return;
      }
    } catch (e) {
      say("bad", msg("failed", String(e && e.message || e)));
      button.disabled = false;
      return;
    }
    var result;
    try {
      result = await check(text);
    } catch (e) {
      result = ["bad", String(e && e.message || e)];
    }
    if (result[0] === "ok") say("ok", msg("ok"));
    else if (result[0] === "otherkey") say("bad", msg("otherkey"));
    else if (result[0] === "nocrypto") say("", msg("nocrypto"));
    else say("bad", msg("bad", result[1]));
    var a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    a.download = "dsr-package.json";
    a.id = "verify-save-link";
    a.textContent = msg("save");
    save.replaceChildren(a);
  });
})();

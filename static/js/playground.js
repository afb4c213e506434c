// The playground: calls /v1 with the page's playground token (not an API key), streams chat,
// shows images and follows video jobs. Costs come from what the API reports.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("playground-config").textContent);
  let token = config.token;
  const $ = (id) => document.getElementById(id);

  // The page's words: from the page (in the visitor's language) when it sends them, else English.
  // "{n}" stands for the number filled in.
  const strings = Object.assign({
    at_most: "At most about {n} credits",
    charged: "Charged {n} credits",
    credits: "{n} credits",
    generating: "Generating…",
    submitting: "Submitting…",
    held: "{n} credits held while it runs",
    no_size: "This model does not offer that size",
    request_failed: "The request failed.",
    video_failed: "The video failed.",
    session_ended: "Your session has ended: log in again.",
    generated_image: "Generated image",
  }, config.strings || {});
  const say = (key, n) => strings[key].replace("{n}", n);

  function credits(micros) {
    const value = Number(micros) / 1e6;
    return value.toLocaleString("en-US", { maximumFractionDigits: 6 });
  }

  function csrf() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function refreshToken() {
    const answer = await fetch("/playground/token", {
      method: "POST", headers: { "X-CSRFToken": csrf() }, credentials: "same-origin",
    });
    if (!answer.ok) throw new Error(say("session_ended"));
    token = (await answer.json()).token;
  }

  async function api(path, options = {}, retried = false) {
    const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
    const answer = await fetch(path, Object.assign({}, options, { headers }));
    if (answer.status === 401 && !retried) {
      await refreshToken();
      return api(path, options, true);
    }
    return answer;
  }

  async function errorText(answer) {
    try {
      const body = await answer.json();
      return (body.error && body.error.message) || answer.statusText;
    } catch (e) {
      return answer.statusText || say("request_failed");
    }
  }

  // Model pickers
  for (const select of document.querySelectorAll("select[data-kind]")) {
    for (const model of config.models.filter((m) => m.kind === select.dataset.kind)) {
      const option = document.createElement("option");
      option.value = model.id;
      option.textContent = model.name;
      select.appendChild(option);
    }
  }
  const model = (id) => config.models.find((m) => m.id === $(id).value);

  // Tabs
  for (const tab of document.querySelectorAll("[data-tab]")) {
    tab.addEventListener("click", (event) => {
      event.preventDefault();
      for (const other of document.querySelectorAll("[data-tab]")) other.classList.toggle("active", other === tab);
      for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== tab.dataset.tab;
    });
  }

  // Chat
  let history = [];
  const maxTokens = (m) => Math.min(config.chat_max_tokens, m.max_output_tokens || config.chat_max_tokens);
  function chatEstimate() {
    const m = model("chat-model");
    if (!m) return;
    const text = history.map((h) => h.content).join(" ") + $("chat-input").value;
    const inputTokens = Math.ceil(text.length / 3) + 8 * (history.length + 1);
    const maxOut = maxTokens(m);
    const micros = (inputTokens * m.price.input_micros_per_mtok + maxOut * m.price.output_micros_per_mtok) / 1e6 + m.price.per_request_micros;
    $("chat-estimate").textContent = say("at_most", credits(Math.ceil(micros)));
  }
  function bubble(role, text) {
    const div = document.createElement("div");
    div.className = "msg " + role;
    div.textContent = text;
    $("chat-log").appendChild(div);
    $("chat-log").scrollTop = $("chat-log").scrollHeight;
    return div;
  }
  $("chat-input").addEventListener("input", chatEstimate);
  $("chat-model").addEventListener("change", chatEstimate);
  $("chat-clear").addEventListener("click", () => { history = []; $("chat-log").textContent = ""; $("chat-cost").textContent = ""; chatEstimate(); });
  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("chat-input").value.trim();
    if (!text) return;
    history.push({ role: "user", content: text });
    bubble("user", text);
    $("chat-input").value = "";
    $("chat-send").disabled = true;
    $("chat-cost").textContent = "";
    const reply = bubble("assistant", "");
    let answerText = "";
    try {
      const m = model("chat-model");
      const answer = await api("/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          model: m.id, messages: history, stream: m.stream, max_tokens: maxTokens(m),
          stream_options: m.stream ? { include_usage: true } : undefined,
        }),
      });
      if (!answer.ok) throw new Error(await errorText(answer));
      let charged = null;
      if (m.stream) {
        const reader = answer.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const event = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            for (const line of event.split("\n")) {
              if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
              const chunk = JSON.parse(line.slice(6));
              if (chunk.error) throw new Error(chunk.error.message);
              const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
              if (delta && delta.content) { answerText += delta.content; reply.textContent = answerText; }
              if (chunk.usage && chunk.usage.credits_charged !== undefined) charged = chunk.usage.credits_charged;
            }
          }
        }
      } else {
        const body = await answer.json();
        answerText = body.choices[0].message.content || "";
        reply.textContent = answerText;
        charged = body.usage && body.usage.credits_charged;
      }
      history.push({ role: "assistant", content: answerText });
      if (charged !== null) $("chat-cost").textContent = say("charged", charged);
    } catch (error) {
      reply.classList.add("error");
      reply.textContent = error.message;
      history.pop();
    } finally {
      $("chat-send").disabled = false;
      chatEstimate();
    }
  });

  // Images
  function imagePrice(m) {
    const table = m.price.image_micros || {};
    const size = $("image-size").value, quality = $("image-quality").value;
    for (const key of [size + ":" + quality, size + ":*", "*:" + quality, "*:*"]) if (key in table) return table[key];
    return null;
  }
  function imageEstimate() {
    const m = model("image-model");
    if (!m) return;
    const each = imagePrice(m);
    $("image-estimate").textContent = each === null ? say("no_size") : say("credits", credits(each));
  }
  for (const id of ["image-model", "image-size", "image-quality"]) $(id).addEventListener("change", imageEstimate);
  $("image-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("image-send").disabled = true;
    $("image-cost").textContent = say("generating");
    $("image-result").textContent = "";
    try {
      const answer = await api("/v1/images/generations", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          model: $("image-model").value, prompt: $("image-prompt").value, n: 1,
          size: $("image-size").value, quality: $("image-quality").value, response_format: "url",
        }),
      });
      if (!answer.ok) throw new Error(await errorText(answer));
      const body = await answer.json();
      const img = document.createElement("img");
      img.src = body.data[0].url;
      img.alt = say("generated_image");
      $("image-result").appendChild(img);
      $("image-cost").textContent = say("charged", answer.headers.get("x-reapi-credits-charged"));
    } catch (error) {
      $("image-cost").textContent = error.message;
    } finally {
      $("image-send").disabled = false;
    }
  });

  // Video
  function resolution(size) {
    const [w, h] = size.split("x").map(Number);
    const short = Math.min(w, h);
    return short <= 480 ? "480p" : short <= 720 ? "720p" : short <= 1080 ? "1080p" : "4k";
  }
  function videoEstimate() {
    const m = model("video-model");
    if (!m) return;
    const table = m.price.video_micros_per_second || {};
    const res = resolution($("video-size").value);
    const each = res in table ? table[res] : table["*"];
    $("video-estimate").textContent = each === undefined ? say("no_size") : say("credits", credits(each * Number($("video-seconds").value)));
  }
  for (const id of ["video-model", "video-size", "video-seconds"]) $(id).addEventListener("change", videoEstimate);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  function progress(value) {
    $("video-bar").style.width = value + "%";
    $("video-bar").setAttribute("aria-valuenow", String(value));
  }
  $("video-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("video-send").disabled = true;
    $("video-result").textContent = "";
    $("video-cost").textContent = say("submitting");
    $("video-progress").hidden = false;
    progress(0);
    try {
      let answer = await api("/v1/videos", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          model: $("video-model").value, prompt: $("video-prompt").value,
          seconds: $("video-seconds").value, size: $("video-size").value,
        }),
      });
      if (!answer.ok) throw new Error(await errorText(answer));
      let job = await answer.json();
      $("video-cost").textContent = say("held", credits(job.credits_held));
      while (job.status === "queued" || job.status === "in_progress") {
        progress(job.progress || 0);
        await sleep(1000);
        answer = await api("/v1/videos/" + job.id);
        if (!answer.ok) throw new Error(await errorText(answer));
        job = await answer.json();
      }
      if (job.status !== "completed") throw new Error((job.error && job.error.message) || say("video_failed"));
      progress(100);
      const file = await api("/v1/videos/" + job.id + "/content");
      if (!file.ok) throw new Error(await errorText(file));
      const video = document.createElement("video");
      video.controls = true;
      video.src = URL.createObjectURL(await file.blob());
      $("video-result").appendChild(video);
      $("video-cost").textContent = say("charged", credits(job.credits_charged));
    } catch (error) {
      $("video-cost").textContent = error.message;
    } finally {
      $("video-send").disabled = false;
    }
  });

  chatEstimate();
  imageEstimate();
  videoEstimate();
})();

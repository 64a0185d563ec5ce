/* The in-browser demo of the mask CVAE (docs/demo.md): the model in plain JavaScript,
 * and the page's drawing, hiding and completion controls.
 *
 * weights.js and inputs.js are written by docs/export_demo.py and loaded before this
 * file. The model is the one of cvae_pyro.models.CVAE with a MaskCondition:
 *
 *   h      = [pixels * visible, visible]                    (1568)
 *   y_hat  = sigmoid(baseline(h))                           the mask baseline NN's guess
 *   mu, s  = prior([h, y_hat]): loc, softplus(raw) + floor  p(z|x), a diagonal Normal
 *   z      = mu + s * eps                                   eps ~ N(0, I)
 *   y      = sigmoid(generation([h, z]))                    p(y|x,z), pixel probabilities
 *
 * Every network is Linear layers with a ReLU between each two (cvae_pyro.networks.mlp).
 *
 * API, for the page itself and for docs/check_rendered.py:
 *   cvaeDemo.ready                         Promise, resolves once the weights are decoded
 *   cvaeDemo.zDim                          latent size
 *   cvaeDemo.complete(pixels, visible, eps) n arrays of 784 probabilities (eps: n x zDim)
 *   cvaeDemo.guess(pixels, visible)        the baseline's 784 probabilities y_hat
 *   cvaeDemo.pictureToDigit(image)         {width, height, data: RGBA bytes} to 784 MNIST-like
 *   cvaeDemo.state()                       copies of the page's pixels and visible mask
 *
 * Formatted with prettier --print-width 100.
 */
(function () {
  "use strict";

  const WEIGHTS = window.CVAE_DEMO_WEIGHTS; // weights.js
  const INPUTS = window.CVAE_DEMO_INPUTS; // inputs.js
  const SIDE = WEIGHTS.imageSide; // 28 pixels per side
  const PIXELS = SIDE * SIDE; // 784
  const NUM_COMPLETIONS = 8; // completions the page shows
  const SOFTPLUS_THRESHOLD = 20; // above it softplus(x) is x, as in torch

  // ---------------------------------------------------------------- the weights

  /** The float value of every float16 bit pattern: Float32Array(65536). */
  function halfFloatTable() {
    const table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) {
      const exponent = (bits >> 10) & 0x1f;
      const fraction = bits & 0x3ff;
      let value;
      if (exponent === 0)
        value = fraction * 2 ** -24; // zero and subnormals
      else if (exponent === 31) value = fraction ? NaN : Infinity;
      else value = (1 + fraction / 1024) * 2 ** (exponent - 15);
      table[bits] = bits & 0x8000 ? -value : value;
    }
    return table;
  }

  /** The bytes behind weights.js's string: the script is read as windows-1252. */
  function stringBytes(text) {
    const chars = new TextDecoder("windows-1252").decode(
      Uint8Array.from({ length: 256 }, (_, i) => i),
    );
    const byteOf = new Int16Array(65536).fill(-1);
    for (let b = 0; b < 256; b++) byteOf[chars.charCodeAt(b)] = b;
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const b = byteOf[text.charCodeAt(i)];
      if (b < 0) throw new Error("weights.js was not read as windows-1252 (charset attribute)");
      bytes[i] = b;
    }
    return bytes;
  }

  async function gunzip(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  /** The networks, each a list of {inDim, outDim, weight (out x in, row-major), bias}. */
  async function loadNetworks() {
    if (!WEIGHTS || WEIGHTS.format !== "cvae_pyro-demo-weights" || WEIGHTS.version !== 1) {
      throw new Error("weights.js is missing or of another version: rebuild the docs");
    }
    const planes = await gunzip(stringBytes(WEIGHTS.data)); // high bytes, then low bytes
    const count = WEIGHTS.count;
    if (planes.length !== 2 * count) throw new Error("weights.js is truncated");
    WEIGHTS.data = null; // let the string go
    const table = halfFloatTable();
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = table[(planes[i] << 8) | planes[count + i]];
    let offset = 0;
    const nets = {};
    for (const [name, shapes] of Object.entries(WEIGHTS.layers)) {
      nets[name] = shapes.map(([inDim, outDim]) => {
        const weight = values.subarray(offset, (offset += inDim * outDim));
        const bias = values.subarray(offset, (offset += outDim));
        return { inDim, outDim, weight, bias };
      });
    }
    return nets;
  }

  // ---------------------------------------------------------------- dense layers

  /** x (n rows of `cols`) times columns [from, from + cols) of the layer's weight: n x outDim.
   *
   * Four rows of x at a time share each weight read (twice as fast as one row at a time);
   * the rows left over go one by one.
   */
  function matmul(layer, x, n, from = 0, cols = layer.inDim) {
    const { inDim, outDim, weight } = layer;
    const y = new Float32Array(n * outDim);
    let s = 0;
    for (; s + 4 <= n; s += 4) {
      const b0 = s * cols,
        b1 = b0 + cols,
        b2 = b1 + cols,
        b3 = b2 + cols;
      for (let j = 0; j < outDim; j++) {
        const row = j * inDim + from;
        let y0 = 0,
          y1 = 0,
          y2 = 0,
          y3 = 0;
        for (let k = 0; k < cols; k++) {
          const w = weight[row + k];
          y0 += w * x[b0 + k];
          y1 += w * x[b1 + k];
          y2 += w * x[b2 + k];
          y3 += w * x[b3 + k];
        }
        y[s * outDim + j] = y0;
        y[(s + 1) * outDim + j] = y1;
        y[(s + 2) * outDim + j] = y2;
        y[(s + 3) * outDim + j] = y3;
      }
    }
    for (; s < n; s++) {
      const base = s * cols;
      for (let j = 0; j < outDim; j++) {
        const row = j * inDim + from;
        let sum = 0;
        for (let k = 0; k < cols; k++) sum += weight[row + k] * x[base + k];
        y[s * outDim + j] = sum;
      }
    }
    return y;
  }

  /** In place: y (n x outDim) plus the layer's bias, then a ReLU when `relu`. */
  function addBias(layer, y, relu) {
    const { outDim, bias } = layer;
    for (let i = 0; i < y.length; i++) {
      const v = y[i] + bias[i % outDim];
      y[i] = relu && v < 0 ? 0 : v;
    }
    return y;
  }

  /** The layers from `first` on, applied to n rows x: ReLU between layers, the last linear. */
  function mlp(layers, x, n, first = 0) {
    for (let i = first; i < layers.length; i++) {
      x = addBias(layers[i], matmul(layers[i], x, n), i < layers.length - 1);
    }
    return x;
  }

  const sigmoid = (v) => 1 / (1 + Math.exp(-v));
  const softplus = (v) => (v > SOFTPLUS_THRESHOLD ? v : Math.log1p(Math.exp(v)));

  // ---------------------------------------------------------------- the model

  let nets = null; // set once the weights are decoded

  function checkInputs(pixels, visible) {
    if (!nets) throw new Error("cvaeDemo: the weights are not loaded yet (await cvaeDemo.ready)");
    if (pixels.length !== PIXELS || visible.length !== PIXELS) {
      throw new Error(`cvaeDemo: pixels and visible must hold ${PIXELS} numbers each`);
    }
  }

  /** h = [pixels * visible, visible]: the condition the networks read (1568). */
  function conditionInput(pixels, visible) {
    const h = new Float32Array(2 * PIXELS);
    for (let i = 0; i < PIXELS; i++) {
      const keep = visible[i] ? 1 : 0;
      h[i] = pixels[i] * keep;
      h[PIXELS + i] = keep;
    }
    return h;
  }

  function baselineGuess(h) {
    return mlp(nets.baseline, h, 1).map(sigmoid); // (784)
  }

  /** The baseline NN's pixel probabilities y_hat for the whole picture (784 numbers). */
  function guess(pixels, visible) {
    checkInputs(pixels, visible);
    return Array.from(baselineGuess(conditionInput(pixels, visible)));
  }

  /** n completions: sigmoid(generation([h, z])) with z = mu + sigma * eps from p(z|x). */
  function complete(pixels, visible, eps) {
    checkInputs(pixels, visible);
    const zDim = WEIGHTS.zDim;
    const n = eps.length;
    if (!eps.every((e) => e.length === zDim))
      throw new Error(`cvaeDemo: eps must be n arrays of ${zDim}`);
    const h = conditionInput(pixels, visible);
    const priorInput = new Float32Array(3 * PIXELS);
    priorInput.set(h);
    priorInput.set(baselineGuess(h), 2 * PIXELS); // [h, y_hat]
    const params = mlp(nets.prior, priorInput, 1); // [loc, raw scale]
    const z = new Float32Array(n * zDim);
    for (let s = 0; s < n; s++) {
      for (let k = 0; k < zDim; k++) {
        const scale = softplus(params[zDim + k]) + WEIGHTS.minScale;
        z[s * zDim + k] = params[k] + scale * eps[s][k];
      }
    }
    // The first layer reads [h, z]: its h part once, its z part per completion.
    const first = nets.generation[0];
    const fromH = addBias(first, matmul(first, h, 1, 0, h.length), false);
    const hidden = matmul(first, z, n, h.length, zDim);
    for (let i = 0; i < hidden.length; i++)
      hidden[i] = Math.max(0, hidden[i] + fromH[i % first.outDim]);
    const logits = mlp(nets.generation, hidden, n, 1);
    const out = [];
    for (let s = 0; s < n; s++)
      out.push(Array.from(logits.subarray(s * PIXELS, (s + 1) * PIXELS), sigmoid));
    return out;
  }

  // ------------------------------------------- a picture made MNIST-like (cvae_pyro.pictures)

  const DIGIT_BOX = 20; // longer side of the digit, as in MNIST
  const MASS_CENTRE = 14.0; // where the centre of mass goes (pixel indices)
  const INK_THRESHOLD = 0.3; // ink counted in the bounding box
  const MIN_CONTRAST = 0.1; // less is a blank picture
  const LIGHT = 0.5; // from this grey level a drawing counts as light

  /** Python's round(): halves to the even integer. */
  function roundHalfEven(v) {
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  /** Grey levels in [0, 1] as Pillow's "L" makes them; transparent parts are background. */
  function greyLevels(image) {
    const { width, height, data } = image;
    const grey = new Float64Array(width * height);
    const alpha = new Float64Array(width * height);
    let opaque = 0,
      alphaSum = 0,
      minAlpha = 1;
    for (let i = 0; i < grey.length; i++) {
      const [r, g, b, a] = [data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]];
      grey[i] = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) / 255;
      alpha[i] = a / 255;
      opaque += grey[i] * alpha[i];
      alphaSum += alpha[i];
      minAlpha = Math.min(minAlpha, alpha[i]);
    }
    if (minAlpha < 1) {
      const backdrop = opaque / Math.max(alphaSum, 1e-12) < LIGHT ? 1 : 0;
      for (let i = 0; i < grey.length; i++)
        grey[i] = alpha[i] * grey[i] + (1 - alpha[i]) * backdrop;
    }
    return grey;
  }

  function median(values) {
    const v = Float64Array.from(values).sort();
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  }

  /** Ink in [0, 1]: the background (median of the border) 0, the strongest ink 1. */
  function inkLevels(grey, width, height) {
    const border = [];
    for (let x = 0; x < width; x++) border.push(grey[x], grey[(height - 1) * width + x]);
    for (let y = 0; y < height; y++) border.push(grey[y * width], grey[y * width + width - 1]);
    const background = median(border);
    let lo = Infinity,
      hi = -Infinity;
    for (const g of grey) {
      lo = Math.min(lo, g);
      hi = Math.max(hi, g);
    }
    const darkInk = background - lo > hi - background;
    const ink = grey.map((g) => (darkInk ? background - g : g - background));
    let contrast = -Infinity;
    for (const v of ink) contrast = Math.max(contrast, v);
    if (contrast < MIN_CONTRAST)
      throw new Error("the picture is blank: no ink stands out from its background");
    return ink.map((v) => Math.min(1, Math.max(0, v / contrast))); // Float64Array, as numpy's
  }

  /** Pillow's BILINEAR coefficients (anti-aliased when shrinking): [first, weights] per output. */
  function resampleCoefficients(inSize, outSize) {
    const scale = inSize / outSize;
    const filterScale = Math.max(scale, 1);
    const support = filterScale; // the triangle's support, 1, stretched
    const taps = [];
    for (let o = 0; o < outSize; o++) {
      const centre = (o + 0.5) * scale;
      const first = Math.max(Math.trunc(centre - support + 0.5), 0);
      const last = Math.min(Math.trunc(centre + support + 0.5), inSize);
      const w = [];
      for (let x = first; x < last; x++)
        w.push(Math.max(0, 1 - Math.abs((x - centre + 0.5) / filterScale)));
      const total = w.reduce((a, b) => a + b, 0);
      taps.push([first, total ? w.map((v) => v / total) : w]);
    }
    return taps;
  }

  /** Resize h x w ink so that its longer side is DIGIT_BOX: horizontal pass, then vertical. */
  function scaleToBox(ink, width, height) {
    const scale = DIGIT_BOX / Math.max(width, height);
    const w2 = Math.max(1, roundHalfEven(width * scale));
    const h2 = Math.max(1, roundHalfEven(height * scale));
    const across = new Float32Array(w2 * height);
    resampleCoefficients(width, w2).forEach(([first, w], x) => {
      for (let y = 0; y < height; y++) {
        let sum = 0;
        for (let k = 0; k < w.length; k++) sum += ink[y * width + first + k] * w[k];
        across[y * w2 + x] = sum;
      }
    });
    const out = new Float32Array(w2 * h2);
    resampleCoefficients(height, h2).forEach(([first, w], y) => {
      for (let x = 0; x < w2; x++) {
        let sum = 0;
        for (let k = 0; k < w.length; k++) sum += across[(first + k) * w2 + x] * w[k];
        out[y * w2 + x] = Math.min(1, Math.max(0, sum));
      }
    });
    return { patch: out, width: w2, height: h2 };
  }

  /** A 28x28 field (784) with the patch pasted so that its centre of mass is at the centre. */
  function centreByMass({ patch, width, height }) {
    let mass = 0,
      rows = 0,
      cols = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = patch[y * width + x];
        mass += v;
        rows += v * y;
        cols += v * x;
      }
    }
    const clip = (v, hi) => Math.min(Math.max(v, 0), hi);
    const top = clip(roundHalfEven(MASS_CENTRE - rows / mass), SIDE - height);
    const left = clip(roundHalfEven(MASS_CENTRE - cols / mass), SIDE - width);
    const field = new Float32Array(PIXELS);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) field[(top + y) * SIDE + left + x] = patch[y * width + x];
    }
    return field;
  }

  /** Any picture as an MNIST-like digit, as cvae_pyro.pictures.picture_to_digit makes it. */
  function pictureToDigit(image) {
    const { width, height } = image;
    const ink = inkLevels(greyLevels(image), width, height);
    let x0 = width,
      x1 = -1,
      y0 = height,
      y1 = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (ink[y * width + x] > INK_THRESHOLD) {
          x0 = Math.min(x0, x);
          x1 = Math.max(x1, x);
          y0 = Math.min(y0, y);
          y1 = Math.max(y1, y);
        }
      }
    }
    const w = x1 - x0 + 1,
      h = y1 - y0 + 1;
    const cropped = new Float32Array(w * h);
    for (let y = 0; y < h; y++)
      cropped.set(ink.subarray((y0 + y) * width + x0, (y0 + y) * width + x1 + 1), y * w);
    return Array.from(centreByMass(scaleToBox(cropped, w, h)));
  }

  // ---------------------------------------------------------------- the page

  const INPUT_SCALE = 10; // screen pixels per digit pixel, the drawing canvas
  const OUTPUT_SCALE = 4; // the same for the guess and completions
  const PEN = { full: 0.9, edge: 1.9 }; // ink 1 within `full` digit pixels of the stroke, 0 at `edge`
  const HIDING_BRUSH = 1.6; // radius of the hiding eraser, digit pixels
  const START = { digit: 3, layout: 2 }; // what the page shows first: a test 3, left half visible
  const HIDDEN_TINT = [40, 90, 200]; // colour mixed into hidden pixels of the drawing
  const OUTLINE = "rgba(230, 40, 40, 0.9)"; // the line around the hidden region

  const page = {
    pixels: new Float32Array(PIXELS),
    visible: new Uint8Array(PIXELS).fill(1),
    eps: [],
    tool: "draw",
  };

  function standardNormal() {
    const u = 1 - Math.random(),
      v = Math.random(); // Box-Muller, u in (0, 1]
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  function drawEps() {
    page.eps = Array.from({ length: NUM_COMPLETIONS }, () =>
      Array.from({ length: WEIGHTS.zDim }, standardNormal),
    );
  }

  const $ = (id) => document.getElementById(id);

  /** Paint 784 grey levels on a canvas; hidden pixels tinted when `tint`, then the outline. */
  function paint(canvas, grey, visible, tint) {
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(SIDE, SIDE);
    for (let i = 0; i < PIXELS; i++) {
      const v = 255 * Math.min(1, Math.max(0, grey[i]));
      const mix = tint && !visible[i] ? 0.45 : 0;
      for (let c = 0; c < 3; c++) img.data[4 * i + c] = (1 - mix) * v + mix * HIDDEN_TINT[c];
      img.data[4 * i + 3] = 255;
    }
    const small = document.createElement("canvas");
    small.width = small.height = SIDE;
    small.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
    outline(ctx, visible, canvas.width / SIDE);
  }

  /** Draw the border between visible and hidden pixels. */
  function outline(ctx, visible, scale) {
    ctx.strokeStyle = OUTLINE;
    ctx.lineWidth = Math.max(1, scale / 4);
    ctx.beginPath();
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const here = visible[y * SIDE + x];
        if (x + 1 < SIDE && here !== visible[y * SIDE + x + 1]) {
          ctx.moveTo((x + 1) * scale, y * scale);
          ctx.lineTo((x + 1) * scale, (y + 1) * scale);
        }
        if (y + 1 < SIDE && here !== visible[(y + 1) * SIDE + x]) {
          ctx.moveTo(x * scale, (y + 1) * scale);
          ctx.lineTo((x + 1) * scale, (y + 1) * scale);
        }
      }
    }
    ctx.stroke();
  }

  /** Visible pixels kept, hidden ones from `drawn`. */
  function keepVisible(drawn) {
    return Array.from(drawn, (v, i) => (page.visible[i] ? page.pixels[i] : v));
  }

  let pending = false;
  let preview = null; // the rectangle being dragged, [x0, y0, x1, y1] in digit pixels

  /** Redraw the drawing now and the completions at the next frame (at most once a frame). */
  function update() {
    paintInput();
    if (pending || !nets) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const start = performance.now();
      const samples = complete(page.pixels, page.visible, page.eps);
      const ms = performance.now() - start;
      paint(
        $("cvae-demo-guess"),
        keepVisible(guess(page.pixels, page.visible)),
        page.visible,
        false,
      );
      document.querySelectorAll("#cvae-demo-samples canvas").forEach((canvas, s) => {
        paint(canvas, keepVisible(samples[s]), page.visible, false);
      });
      const hidden = page.visible.reduce((a, v) => a + (1 - v), 0);
      status(
        `${NUM_COMPLETIONS} completions in ${ms.toFixed(1)} ms; ${hidden} of ${PIXELS} pixels hidden.`,
      );
    });
  }

  function paintInput() {
    const shown = page.visible;
    if (preview) {
      const [x0, y0, x1, y1] = preview;
      const visible = Uint8Array.from(shown, (v, i) => {
        const x = i % SIDE,
          y = Math.floor(i / SIDE);
        return x >= x0 && x <= x1 && y >= y0 && y <= y1 ? 0 : v;
      });
      paint($("cvae-demo-input"), page.pixels, visible, true);
    } else {
      paint($("cvae-demo-input"), page.pixels, shown, true);
    }
  }

  function status(text) {
    $("cvae-demo-status").textContent = text;
  }

  /** The digit-pixel coordinates (fractional) of a pointer event on the drawing canvas. */
  function digitPoint(event) {
    const r = event.target.getBoundingClientRect();
    return [
      ((event.clientX - r.left) / r.width) * SIDE,
      ((event.clientY - r.top) / r.height) * SIDE,
    ];
  }

  /** Apply `f(index, distance)` to every pixel centre near the segment a-b. */
  function alongStroke(a, b, radius, f) {
    const steps = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) * 4));
    for (let t = 0; t <= steps; t++) {
      const px = a[0] + ((b[0] - a[0]) * t) / steps,
        py = a[1] + ((b[1] - a[1]) * t) / steps;
      for (let y = Math.floor(py - radius); y <= Math.ceil(py + radius); y++) {
        for (let x = Math.floor(px - radius); x <= Math.ceil(px + radius); x++) {
          if (x < 0 || y < 0 || x >= SIDE || y >= SIDE) continue;
          const d = Math.hypot(x + 0.5 - px, y + 0.5 - py);
          if (d <= radius) f(y * SIDE + x, d);
        }
      }
    }
  }

  const TOOLS = {
    draw: {
      start() {},
      move(a, b) {
        alongStroke(a, b, PEN.edge, (i, d) => {
          const ink = Math.min(1, (PEN.edge - d) / (PEN.edge - PEN.full));
          page.pixels[i] = Math.max(page.pixels[i], ink);
        });
      },
      end() {},
    },
    eraser: {
      start() {},
      move(a, b) {
        alongStroke(a, b, HIDING_BRUSH, (i) => {
          page.visible[i] = 0;
        });
      },
      end() {},
    },
    rectangle: {
      start(a) {
        this.from = a;
        preview = box(a, a);
      },
      move(a, b) {
        preview = box(this.from, b);
      },
      end() {
        const [x0, y0, x1, y1] = preview;
        for (let y = y0; y <= y1; y++)
          for (let x = x0; x <= x1; x++) page.visible[y * SIDE + x] = 0;
        preview = null;
      },
    },
  };

  function box(a, b) {
    const cell = (v) => Math.min(SIDE - 1, Math.max(0, Math.floor(v)));
    return [
      cell(Math.min(a[0], b[0])),
      cell(Math.min(a[1], b[1])),
      cell(Math.max(a[0], b[0])),
      cell(Math.max(a[1], b[1])),
    ];
  }

  function setupCanvas() {
    const canvas = $("cvae-demo-input");
    let last = null;
    canvas.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      last = digitPoint(event);
      TOOLS[page.tool].start(last);
      TOOLS[page.tool].move(last, last);
      update();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!last) return;
      const point = digitPoint(event);
      TOOLS[page.tool].move(last, point);
      last = point;
      update();
    });
    const stop = () => {
      if (!last) return;
      TOOLS[page.tool].end();
      last = null;
      update();
    };
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
  }

  function digitPixels(index) {
    const bytes = atob(INPUTS.digits.bytes);
    return Float32Array.from(
      { length: PIXELS },
      (_, i) => bytes.charCodeAt(index * PIXELS + i) / 255,
    );
  }

  function setLayout(layout) {
    page.visible = Uint8Array.from(layout.visible, (c) => (c === "1" ? 1 : 0));
    update();
  }

  function setupControls() {
    document.querySelectorAll("input[name=cvae-demo-tool]").forEach((radio) => {
      radio.addEventListener("change", () => {
        page.tool = radio.value;
      });
    });
    $("cvae-demo-clear").addEventListener("click", () => {
      page.pixels.fill(0);
      update();
    });
    $("cvae-demo-show-all").addEventListener("click", () => {
      page.visible.fill(1);
      update();
    });
    $("cvae-demo-resample").addEventListener("click", () => {
      drawEps();
      update();
    });

    const digits = $("cvae-demo-digits");
    INPUTS.digits.labels.forEach((label, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.title = `test digit ${label}`;
      button.dataset.digit = index;
      const thumb = document.createElement("canvas");
      thumb.width = thumb.height = 2 * SIDE;
      button.appendChild(thumb);
      button.addEventListener("click", () => {
        page.pixels = digitPixels(index);
        update();
      });
      digits.appendChild(button);
      paint(thumb, digitPixels(index), new Uint8Array(PIXELS).fill(1), false);
    });

    const layouts = $("cvae-demo-layouts");
    INPUTS.layouts.forEach((layout) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.quadrants = layout.quadrants;
      const q = layout.quadrants;
      button.textContent = `${q} quadrant${q > 1 ? "s" : ""} visible`;
      button.addEventListener("click", () => setLayout(layout));
      layouts.appendChild(button);
    });

    $("cvae-demo-upload").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      try {
        const bitmap = await createImageBitmap(file, {
          colorSpaceConversion: "none",
          premultiplyAlpha: "none",
        });
        const canvas = document.createElement("canvas");
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
        const ctx = canvas.getContext("2d");
        ctx.drawImage(bitmap, 0, 0);
        page.pixels = Float32Array.from(
          pictureToDigit(ctx.getImageData(0, 0, bitmap.width, bitmap.height)),
        );
        update();
      } catch (err) {
        status(`Cannot use ${file.name}: ${err.message}`);
      }
    });

    const samples = $("cvae-demo-samples");
    for (let s = 0; s < NUM_COMPLETIONS; s++) {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = OUTPUT_SCALE * SIDE;
      samples.appendChild(canvas);
    }
  }

  function start() {
    const root = $("cvae-demo");
    if (!root) return; // the API works without the page's controls
    $("cvae-demo-input").width = $("cvae-demo-input").height = INPUT_SCALE * SIDE;
    $("cvae-demo-guess").width = $("cvae-demo-guess").height = OUTPUT_SCALE * SIDE;
    setupControls();
    setupCanvas();
    drawEps();
    page.pixels = digitPixels(START.digit);
    setLayout(INPUTS.layouts.find((l) => l.quadrants === START.layout));
    status("Loading the model...");
    ready.then(update, (err) => status(`The model did not load: ${err.message}`));
  }

  const ready = loadNetworks().then((loaded) => {
    nets = loaded;
    return window.cvaeDemo;
  });

  window.cvaeDemo = {
    ready,
    zDim: WEIGHTS.zDim,
    complete,
    guess,
    pictureToDigit,
    state: () => ({ pixels: Array.from(page.pixels), visible: Array.from(page.visible) }),
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

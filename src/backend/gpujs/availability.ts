/**
 * Can this process run gpu.js in a given mode? gpu.js itself answers with a boolean and then
 * falls back silently (a 'headlessgl' GPU that cannot start throws an unhelpful error; the
 * default mode quietly picks webasm). We want a reason a person can act on.
 */

export type GpuJsMode = 'gpu' | 'webasm' | 'cpu';

export type Availability = { ok: true; detail: string } | { ok: false; reason: string };

const XVFB = `xvfb-run -a -s "-ac -screen 0 1280x1024x24" <command>`;

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node && typeof (globalThis as any).window === 'undefined';
}

/**
 * Headless GL in Node (the `gl` package: ANGLE over the system's OpenGL through GLX), or WebGL
 * in a browser. In Node every way it can fail is checked in the order it would bite.
 */
export function glAvailability(): Availability {
  if (!isNode()) {
    const { GPU } = require('gpu.js');
    if (GPU.isWebGL2Supported || GPU.isWebGLSupported) return { ok: true, detail: GPU.isWebGL2Supported ? 'WebGL2' : 'WebGL' };
    return { ok: false, reason: 'this browser has no WebGL (disabled, or no GPU driver)' };
  }
  let getContext: (w: number, h: number, o?: object) => any;
  try {
    require.resolve('gl');
  } catch {
    return { ok: false, reason: 'the `gl` package is not installed (it is an optional dependency of gpu.js: npm install gl)' };
  }
  try {
    getContext = require('gl');
  } catch (e) {
    return {
      ok: false,
      reason:
        `the \`gl\` package is installed but its native module did not load (${(e as Error).message.split('\n')[0]}). ` +
        'Build it with `npm rebuild gl`, which needs build-essential, python3, pkg-config, libx11-dev, libxi-dev, libxext-dev and libgl-dev',
    };
  }
  if (process.platform === 'linux' && !process.env.DISPLAY) {
    return { ok: false, reason: `no DISPLAY: headless-gl on Linux renders through an X server. Run under Xvfb: ${XVFB} (apt-get install xvfb xauth)` };
  }
  let gl: any = null;
  try {
    gl = getContext(1, 1, { preserveDrawingBuffer: true });
  } catch (e) {
    return { ok: false, reason: `creating a GL context threw: ${(e as Error).message}` };
  }
  if (!gl) {
    return {
      ok: false,
      reason:
        `headless-gl could not create a context on DISPLAY=${process.env.DISPLAY}: is that X server running and accepting ` +
        `clients (Xvfb -ac), and is Mesa's OpenGL installed (libgl1-mesa-dri, libglx-mesa0)? Try: ${XVFB}`,
    };
  }
  try {
    if (!gl.getExtension('OES_texture_float')) {
      return { ok: false, reason: 'the GL context has no OES_texture_float: float32 textures are needed to keep tensors on the GPU' };
    }
    return { ok: true, detail: `${gl.getParameter(gl.VERSION)} on DISPLAY=${process.env.DISPLAY}` };
  } finally {
    gl.getExtension('STACKGL_destroy_context')?.destroy();
  }
}

export function webasmAvailability(): Availability {
  if (typeof (globalThis as any).WebAssembly === 'undefined') return { ok: false, reason: 'this JavaScript engine has no WebAssembly' };
  const { GPU } = require('gpu.js');
  return GPU.isWebAssemblySupported ? { ok: true, detail: 'WebAssembly SIMD' } : { ok: false, reason: 'gpu.js reports no WebAssembly SIMD support here' };
}

export function availability(mode: GpuJsMode): Availability {
  if (mode === 'gpu') return glAvailability();
  if (mode === 'webasm') return webasmAvailability();
  return { ok: true, detail: 'JavaScript' };
}

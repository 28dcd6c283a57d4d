#!/usr/bin/python3
"""Golden numbers for the tiny-ddpm UNet, computed with an independent framework.

Source:     scripts/golden/unet.py (this script)
Framework:  PyTorch 1.13 from Debian: package python3-torch 1.13.1+dfsg-4, which
            reports torch.__version__ == "1.13.0a0". This is what generated the
            committed JSON. The version that actually ran is printed and also
            written into the JSON ("torch_version", "torch_debian_package").
Precision:  float64 throughout (parameters, input, forward and backward).
Rerun:      /usr/bin/python3 scripts/golden/unet.py
            (from the repository root; writes test/golden/unet-golden.json)
            Needs `apt-get install -y python3-torch`. Use /usr/bin/python3,
            not another python3 that may be first on PATH.

The tests never import torch: they only read test/golden/unet-golden.json.

Architecture: the reference "unet-tiny" (docs/04-nn-and-unet.md,
section "unet-tiny"), generalised by a config:

    in_channels, base_channels, channel_mults (ch_l = base * mult_l),
    num_res_blocks (must be 1), attn_levels (levels whose down/up ResBlock is
    followed by an Attention, named down{l}.attn / up{l}.attn), mid_attention,
    time_features (sinusoidal: half sin, half cos), time_dim, groups.

Parameters are not random: they are a deterministic function of the sorted
parameter name list, so that the TypeScript side can rebuild them exactly
(see deterministic_value below). The input is x[j] = sin(0.1*j + 0.3) over the
flattened [B, C, H, W] input, and t = [3, 500].
"""

import json
import math
import os
import sys

import subprocess

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

REFERENCE_CONFIG = dict(
    in_channels=1, base_channels=32, channel_mults=[1, 2, 2], num_res_blocks=1,
    attn_levels=[], mid_attention=True, time_features=32, time_dim=128, groups=8)
REFERENCE_PARAM_COUNT = 793697

GN_EPS = 1e-5


# ---------------------------------------------------------------- modules

def sinusoidal(t, features):
    """[B] -> [B, features]: [sin(t*f_0..f_{h-1}), cos(t*f_0..f_{h-1})],
    f_i = exp(-ln(10000) * i / h), h = features / 2."""
    half = features // 2
    i = torch.arange(half, dtype=torch.float64)
    freqs = torch.exp(-math.log(10000.0) * i / half)
    args = t.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """GN -> SiLU -> conv3x3 -> + temb(SiLU(e)) -> GN -> SiLU -> conv3x3, + skip(h)."""

    def __init__(self, cin, cout, time_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=GN_EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(time_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=GN_EPS)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, h, e):
        y = self.conv1(F.silu(self.norm1(h)))
        y = y + self.temb(F.silu(e))[:, :, None, None]
        y = self.conv2(F.silu(self.norm2(y)))
        return y + (self.skip(h) if self.skip is not None else h)


class Attention(nn.Module):
    """GN -> 1x1 q, k, v -> softmax(q k^T / sqrt(c)) v over H*W -> 1x1 proj -> + h."""

    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=GN_EPS)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, h):
        b, c, hh, ww = h.shape
        n = self.norm(h)
        q = self.q(n).reshape(b, c, hh * ww).transpose(1, 2)  # [B, N, c]
        k = self.k(n).reshape(b, c, hh * ww)                  # [B, c, N]
        v = self.v(n).reshape(b, c, hh * ww).transpose(1, 2)  # [B, N, c]
        w = torch.softmax(torch.bmm(q, k) / math.sqrt(c), dim=-1)  # [B, Nq, Nk]
        a = torch.bmm(w, v).transpose(1, 2).reshape(b, c, hh, ww)
        return h + self.proj(a)


class Level(nn.Module):
    pass


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        assert cfg["num_res_blocks"] == 1, "only num_res_blocks = 1 is implemented"
        self.cfg = cfg
        g, td, tf = cfg["groups"], cfg["time_dim"], cfg["time_features"]
        ch = [cfg["base_channels"] * m for m in cfg["channel_mults"]]
        L = len(ch)
        self.ch, self.L = ch, L
        self.time_mlp = nn.Sequential(nn.Linear(tf, td), nn.SiLU(), nn.Linear(td, td))
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        for l in range(L):
            m = Level()
            prev = ch[0] if l == 0 else ch[l - 1]
            m.res = ResBlock(prev, ch[l], td, g)
            if l in cfg["attn_levels"]:
                m.attn = Attention(ch[l], g)
            if l < L - 1:
                m.down = nn.Conv2d(ch[l], ch[l], 3, stride=2, padding=1)
            setattr(self, f"down{l}", m)
        self.mid = Level()
        self.mid.res1 = ResBlock(ch[L - 1], ch[L - 1], td, g)
        if cfg["mid_attention"]:
            self.mid.attn = Attention(ch[L - 1], g)
        self.mid.res2 = ResBlock(ch[L - 1], ch[L - 1], td, g)
        for l in reversed(range(L)):
            m = Level()
            cur = ch[L - 1] if l == L - 1 else ch[l + 1]
            m.res = ResBlock(cur + ch[l], ch[l], td, g)
            if l in cfg["attn_levels"]:
                m.attn = Attention(ch[l], g)
            if l > 0:
                m.up = nn.Conv2d(ch[l], ch[l], 3, padding=1)
            setattr(self, f"up{l}", m)
        self.out_norm = nn.GroupNorm(g, ch[0], eps=GN_EPS)
        self.out_conv = nn.Conv2d(ch[0], cfg["in_channels"], 3, padding=1)

    def time_embedding(self, t):
        return self.time_mlp(sinusoidal(t, self.cfg["time_features"]))

    def forward(self, x, t):
        e = self.time_embedding(t)
        h = self.conv_in(x)
        skips = []
        for l in range(self.L):
            m = getattr(self, f"down{l}")
            h = m.res(h, e)
            if hasattr(m, "attn"):
                h = m.attn(h)
            skips.append(h)
            if hasattr(m, "down"):
                h = m.down(h)
        h = self.mid.res1(h, e)
        if hasattr(self.mid, "attn"):
            h = self.mid.attn(h)
        h = self.mid.res2(h, e)
        for l in reversed(range(self.L)):
            m = getattr(self, f"up{l}")
            h = torch.cat([h, skips[l]], dim=1)  # current path first, skip second
            h = m.res(h, e)
            if hasattr(m, "attn"):
                h = m.attn(h)
            if hasattr(m, "up"):
                h = m.up(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out_conv(F.silu(self.out_norm(h)))


# ---------------------------------------------------------------- deterministic weights

def deterministic_value(name, p, shape):
    """Values for parameter number p (0-based, in sorted-name order), flattened
    row-major index i:
      name ends with '.weight' and >= 2 dims: sin(0.5*(p+1) + 0.37*i) / sqrt(fan_in),
                                              fan_in = numel / shape[0]
      name contains 'norm' and ends '.weight': 1 + 0.2*sin(0.5*(p+1) + 0.37*i)
      otherwise (biases):                      0.2*sin(0.5*(p+1) + 0.37*i)"""
    numel = 1
    for s in shape:
        numel *= s
    i = torch.arange(numel, dtype=torch.float64)
    base = torch.sin(0.5 * (p + 1) + 0.37 * i)
    if name.endswith(".weight") and len(shape) >= 2:
        v = base / math.sqrt(numel / shape[0])
    elif "norm" in name and name.endswith(".weight"):
        v = 1.0 + 0.2 * base
    else:
        v = 0.2 * base
    return v.reshape(shape)


def init_deterministic(model):
    params = dict(model.named_parameters())
    names = sorted(params.keys())
    with torch.no_grad():
        for p, name in enumerate(names):
            t = params[name]
            t.copy_(deterministic_value(name, p, tuple(t.shape)))
    return names


def deterministic_input(shape):
    numel = 1
    for s in shape:
        numel *= s
    j = torch.arange(numel, dtype=torch.float64)
    return torch.sin(0.1 * j + 0.3).reshape(shape)


def param_count(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- goldens

def debian_package_version():
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3-torch"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return None


def finite_difference_check(model, x, t, grad_x, param_name, index=0, h=1e-6):
    """Central differences on one input element and one parameter element, as a
    self-check that the autograd gradients in the JSON are what they claim to be."""
    def loss_at():
        with torch.no_grad():
            return float((model(x, t) ** 2).mean())
    errs = []
    for target, g in ((x, grad_x), (dict(model.named_parameters())[param_name], None)):
        g = (target.grad if g is None else g).reshape(-1)[index].item()
        flat_view = target.data.view(-1)
        old = flat_view[index].item()
        flat_view[index] = old + h
        lp = loss_at()
        flat_view[index] = old - h
        lm = loss_at()
        flat_view[index] = old
        fd = (lp - lm) / (2 * h)
        errs.append(abs(fd - g) / max(abs(g), 1e-12))
    return max(errs)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def make_case(case_name, cfg, input_shape, t_values, grad_params):
    model = UNet(cfg)
    names = init_deterministic(model)
    params = dict(model.named_parameters())
    x = deterministic_input(input_shape).requires_grad_(True)
    t = torch.tensor(t_values, dtype=torch.float64)
    out = model(x, t)
    loss = (out ** 2).mean()
    loss.backward()
    with torch.no_grad():
        e = model.time_embedding(t)
    fd_err = finite_difference_check(model, x, t, x.grad, "conv_in.weight")
    assert fd_err < 1e-6, f"finite-difference check failed for case {case_name}: {fd_err}"
    print(f"case {case_name}: finite-difference check, max relative error {fd_err:.2e}")
    return dict(
        name=case_name,
        config=cfg,
        input_shape=list(input_shape),
        t=[float(v) for v in t_values],
        param_count=param_count(model),
        params=[dict(name=n, shape=list(params[n].shape)) for n in names],
        time_embedding_shape=list(e.shape),
        time_embedding=flat(e),
        output_shape=list(out.shape),
        output=flat(out),
        loss=float(loss),
        grad_input=flat(x.grad),
        grad_params={n: dict(shape=list(params[n].shape), values=flat(params[n].grad))
                     for n in grad_params},
    )


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    out_path = os.path.join(root, "test", "golden", "unet-golden.json")

    print(f"torch {torch.__version__} (Debian python3-torch {debian_package_version()}), "
          f"python {sys.version.split()[0]}, float64")

    ref = UNet(REFERENCE_CONFIG)
    n_ref = param_count(ref)
    print(f"reference unet-tiny parameter count: {n_ref:,} (expected {REFERENCE_PARAM_COUNT:,})")
    if n_ref != REFERENCE_PARAM_COUNT:
        for name, p in sorted(ref.named_parameters()):
            print(f"  {name:28s} {tuple(p.shape)} {p.numel()}")
        sys.exit("parameter count mismatch: not writing goldens")

    common = ["conv_in.weight", "out_conv.bias", "time_mlp.0.weight", "mid.attn.q.weight"]
    cfg_a = dict(in_channels=1, base_channels=16, channel_mults=[1, 2], num_res_blocks=1,
                 attn_levels=[], mid_attention=True, time_features=16, time_dim=32, groups=8)
    cfg_b = dict(in_channels=3, base_channels=16, channel_mults=[1, 2, 2], num_res_blocks=1,
                 attn_levels=[1], mid_attention=True, time_features=16, time_dim=32, groups=8)
    cases = [
        make_case("a", cfg_a, (2, 1, 8, 8), [3, 500], common),
        make_case("b", cfg_b, (2, 3, 8, 8), [3, 500], common + ["down1.attn.k.weight"]),
    ]
    for c in cases:
        print(f"case {c['name']}: params {c['param_count']:,}, output {c['output_shape']}, "
              f"loss {c['loss']!r}")

    doc = dict(
        source="scripts/golden/unet.py",
        rerun="/usr/bin/python3 scripts/golden/unet.py",
        torch_version=torch.__version__,
        torch_debian_package=debian_package_version(),
        precision="float64",
        description=(
            "Forward outputs and gradients of loss = mean(output**2) of the tiny-ddpm UNet "
            "(unet-tiny of docs/04-nn-and-unet.md, generalised by config), computed with PyTorch in float64. "
            "Weights are deterministic (see 'weights'), input x[j] = sin(0.1*j + 0.3) over the "
            "flattened [B,C,H,W] input. All arrays are flattened row-major (C order)."),
        weights=(
            "Parameters sorted by name (ASCII order); parameter number p (0-based), flattened "
            "row-major index i: if name ends with '.weight' and ndim >= 2: "
            "sin(0.5*(p+1) + 0.37*i) / sqrt(numel/shape[0]); else if name contains 'norm' and "
            "ends with '.weight': 1 + 0.2*sin(0.5*(p+1) + 0.37*i); else 0.2*sin(0.5*(p+1) + 0.37*i)."),
        input="x[j] = sin(0.1*j + 0.3), j = flattened row-major index of [B,C,H,W]; t as given",
        loss_definition="loss = mean(output**2) over all output elements; grad_input and "
                        "grad_params are d loss / d x and d loss / d param",
        time_embedding_definition="e = time_mlp(sinusoidal(t)), shape [B, time_dim], "
                                  "before the SiLU that each ResBlock applies ahead of its temb Linear",
        reference_config=REFERENCE_CONFIG,
        reference_param_count=n_ref,
        cases=cases,
    )
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(out_path, root)} ({os.path.getsize(out_path):,} bytes)")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""One unet-tiny DDPM training step in PyTorch (float32, CPU), for bench/train-step.ts.

Reuses the model of scripts/golden/unet.py (the PyTorch twin the UNet golden tests come from),
in float32 with PyTorch's default initialisation: forward on a noisy batch, MSE to the noise,
backward, Adam step; the same work as a tiny-ddpm training step.

    /usr/bin/python3 bench/torch_step.py [batch] [steps] [threads]

Prints one JSON line: {"torch": version, "batch", "threads", "ms": [per-step ms, first excluded]}.
"""
import importlib.util
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('golden_unet', os.path.join(HERE, '..', 'scripts', 'golden', 'unet.py'))
golden = importlib.util.module_from_spec(spec)
spec.loader.exec_module(golden)
torch.set_default_dtype(torch.float32)  # the golden script sets float64 at import
_sinusoidal = golden.sinusoidal
golden.sinusoidal = lambda t, features: _sinusoidal(t, features).float()  # it builds the embedding in float64

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 64
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)

model = golden.UNet(golden.REFERENCE_CONFIG).float()
assert golden.param_count(model) == golden.REFERENCE_PARAM_COUNT
opt = torch.optim.Adam(model.parameters(), lr=2e-4)
times = []
for i in range(steps + 1):
    t0 = time.perf_counter()
    x = torch.randn(batch, 1, 28, 28)
    noise = torch.randn(batch, 1, 28, 28)
    t = torch.tensor([(j * 37) % 1000 for j in range(batch)])
    loss = torch.nn.functional.mse_loss(model(x, t), noise)
    opt.zero_grad()
    loss.backward()
    opt.step()
    loss.item()
    times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({'torch': torch.__version__, 'batch': batch, 'threads': threads, 'ms': times[1:]}))

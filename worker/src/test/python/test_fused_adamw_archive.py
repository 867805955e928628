"""The committed TorchScript archive of the workers' fused AdamW step is its source's, and it steps
as PyTorch's own AdamW does (torch.optim.AdamW, the single-tensor implementation: an independent
computation of the same rule), adapter by adapter with different hyper-parameters in one call."""

import pathlib
import subprocess
import sys
import zipfile

import torch

ROOT = pathlib.Path(__file__).resolve().parents[4]
SOURCE = ROOT / "worker" / "src" / "main" / "python" / "make_fused_adamw.py"
ARCHIVE = ROOT / "worker" / "src" / "main" / "resources" / "dev" / "lathe" / "worker" / "optim" / "fused_adamw.pt"


def _code(archive):
    with zipfile.ZipFile(archive) as z:
        return {n.split("/", 1)[1]: z.read(n) for n in z.namelist() if "/code/" in n and n.endswith(".py")}


def test_the_committed_archive_is_built_from_its_source(tmp_path):
    subprocess.run([sys.executable, str(SOURCE), str(tmp_path)], check=True)
    fresh = _code(tmp_path / "fused_adamw.pt")
    assert fresh and _code(ARCHIVE) == fresh, "run worker/src/main/python/make_fused_adamw.py"


def test_the_archive_steps_as_torch_adamw():
    script = torch.jit.load(str(ARCHIVE))
    torch.manual_seed(3)
    # (lr, betas, eps, weight decay, clip norm): the first clips, the second does not.
    hypers = [(1e-2, (0.9, 0.95), 1e-8, 0.1, 0.5), (3e-3, (0.8, 0.99), 1e-6, 0.0, 0.0)]
    sizes = [37, 91]
    ours = [torch.randn(n, dtype=torch.float64) for n in sizes]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in ours]
    refs = [p.clone().requires_grad_(True) for p in ours]
    optimizers = [
        torch.optim.AdamW([r], lr=lr, betas=betas, eps=eps, weight_decay=wd, foreach=False, fused=False)
        for r, (lr, betas, eps, wd, _) in zip(refs, hypers)
    ]
    for step in range(1, 4):
        grads = [torch.randn(n, dtype=torch.float64) for n in sizes]
        expected_norms = [g.norm().item() for g in grads]
        for r, g, (*_, clip), opt in zip(refs, grads, hypers, optimizers):
            r.grad = g.clone()
            if 0 < clip < g.norm():
                r.grad *= clip / g.norm()  # the global norm, clipped to max_norm
            opt.step()
        norms = script(
            grads,
            [h[4] for h in hypers],
            [[p] for p in ours],
            [[g] for g in grads],
            [[m] for m, _ in moments],
            [[v] for _, v in moments],
            [[float(step)] for _ in ours],
            [[lr, betas[0], betas[1], wd, eps] for lr, betas, eps, wd, _ in hypers],
        )
        assert torch.allclose(norms, torch.tensor(expected_norms, dtype=torch.float64), rtol=1e-12)
        for p, r in zip(ours, refs):
            assert torch.allclose(p, r.detach(), rtol=0, atol=1e-12), step
        assert all(torch.count_nonzero(g) == 0 for g in grads)

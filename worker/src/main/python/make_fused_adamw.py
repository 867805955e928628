"""The fused AdamW step of every adapter that steps in a clock cycle, as a TorchScript program.

DJL exposes PyTorch's tensor operations one by one, but not its multi-tensor kernels: an AdamW
step written with them costs a dozen passes over an adapter's buffers and a dozen operations (on a
GPU, kernel launches) per adapter. `torch._fused_adamw_` updates a list of tensors in one pass
each, reading parameter, gradient and moments once and writing them once (on a GPU, a few
launches for the whole list); `torch._foreach_norm` takes every gradient's norm at once. The
worker runs this program through DJL's TorchScript loader; its source is here and the archive it
writes is committed beside AdamW.java:

    .venv/bin/python worker/src/main/python/make_fused_adamw.py

The archive holds this source (libtorch compiles it when it is loaded), no weights. The test
worker/src/test/python/test_fused_adamw_archive.py checks that the committed archive is this
source's; dev.lathe.worker.optim.AdamWTest checks the update against a plain-Java reference.
"""

import pathlib
import sys
from typing import List

import torch

OUT = pathlib.Path(__file__).resolve().parents[1] / "resources" / "dev" / "lathe" / "worker" / "optim"


class FusedAdamW(torch.nn.Module):
    """One AdamW step (PyTorch's: decoupled weight decay, bias-corrected moments) of many adapters.

    flat_grads: each adapter's whole gradient [P_i], for its norm, clipping and zeroing.
    max_norms: each adapter's gradient clipping norm (0: none); its gradient is scaled by
        max_norm / norm where the norm exceeds it, before the step.
    params, grads, exp_avgs, exp_avg_sqs: the tensors to update in groups that share a learning
        rate and betas, weight decay and eps (hyper: [lr, beta1, beta2, weight_decay, eps] a
        group); views of the adapters' flat buffers, so updated in place.
    steps: each tensor's step number after this step (for the bias corrections).
    Returns the norms [N] before clipping; every gradient is zero after.
    """

    def forward(
        self,
        flat_grads: List[torch.Tensor],
        max_norms: List[float],
        params: List[List[torch.Tensor]],
        grads: List[List[torch.Tensor]],
        exp_avgs: List[List[torch.Tensor]],
        exp_avg_sqs: List[List[torch.Tensor]],
        steps: List[List[float]],
        hyper: List[List[float]],
    ) -> torch.Tensor:
        norms = torch.stack(torch._foreach_norm(flat_grads))  # [N]
        for i in range(len(flat_grads)):
            if max_norms[i] > 0:
                n = norms[i]
                flat_grads[i].mul_(torch.where(n > max_norms[i], max_norms[i] / n, torch.ones_like(n)))
        for g in range(len(params)):
            h = hyper[g]
            step = [torch.full([], s, dtype=torch.float32, device=norms.device) for s in steps[g]]
            torch._fused_adamw_(
                params[g],
                grads[g],
                exp_avgs[g],
                exp_avg_sqs[g],
                [],
                step,
                lr=h[0],
                beta1=h[1],
                beta2=h[2],
                weight_decay=h[3],
                eps=h[4],
                amsgrad=False,
                maximize=False,
            )
        torch._foreach_zero_(flat_grads)
        return norms


def main(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.jit.script(FusedAdamW()).save(str(out / "fused_adamw.pt"))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)

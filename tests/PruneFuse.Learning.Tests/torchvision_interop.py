"""Test helper: torchvision's own model classes on the PyTorch side of the interop tests.

    torchvision_interop.py load ARCH CLASSES WEIGHTS INPUT.f32 N C H W LOGITS.f32
        builds torchvision.models.ARCH(num_classes=CLASSES), loads WEIGHTS (torch.save state dict) with
        strict=True and writes the eval-mode logits of the float32 NCHW input.
    torchvision_interop.py make ARCH CLASSES SEED WEIGHTS INPUT.f32 N C H W LOGITS.f32
        builds the same model from SEED, moves its BatchNorm statistics away from their initial values,
        saves its state dict with torch.save and writes its eval-mode logits.
"""
import sys

import torch
import torchvision


def read_input(path, n, c, h, w):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(n, c, h, w)


def write(path, logits):
    with open(path, "wb") as f:
        f.write(logits.to(torch.float32).contiguous().numpy().tobytes())


def main(argv):
    mode, arch, classes = argv[1], argv[2], int(argv[3])
    if mode == "load":
        weights, inp, n, c, h, w, out = argv[4], argv[5], *map(int, argv[6:10]), argv[10]
        model = getattr(torchvision.models, arch)(num_classes=classes)
        model.load_state_dict(torch.load(weights, map_location="cpu"), strict=True)
    elif mode == "make":
        seed, weights, inp, n, c, h, w, out = int(argv[4]), argv[5], argv[6], *map(int, argv[7:11]), argv[11]
        torch.manual_seed(seed)
        model = getattr(torchvision.models, arch)(num_classes=classes)
        with torch.no_grad():
            for name, t in model.state_dict().items():
                if name.endswith("running_mean"):
                    t.copy_(torch.randn_like(t) * 0.1)
                elif name.endswith("running_var"):
                    t.copy_(torch.rand_like(t) + 0.5)
                elif t.dtype == torch.float32 and t.dim() == 1:
                    t.add_(torch.randn_like(t) * 0.1)
            # Largest logit 10 on this input, a trained network's order, so that float32 rounding stays far below
            # the tests' 1e-4 (a deep network at initialisation can reach logits in the hundreds).
            model.eval()
            scale = 10.0 / model(read_input(inp, n, c, h, w)).abs().max()
            head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
            head.weight.mul_(scale)
            head.bias.mul_(scale)
        torch.save(model.state_dict(), weights)
    else:
        sys.exit(f"unknown mode {mode}")
    model.eval()
    with torch.no_grad():
        logits = model(read_input(inp, n, c, h, w))
    write(out, logits)
    print(f"{arch}: logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main(sys.argv)

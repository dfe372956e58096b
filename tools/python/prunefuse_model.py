"""Load a network exported by `prunefuse model export` into PyTorch.

    import prunefuse_model
    model, info = prunefuse_model.load("exports/final.json")   # eval mode, CPU
    x = prunefuse_model.preprocess(uint8_images_nchw, info)     # pixels/255, then (x - mean) / std
    logits = model(x)
    features = model.penultimate(x)                             # the classifier's input

Needs only torch (and numpy for preprocess of numpy arrays). The safetensors reader is built in, so the
`safetensors` package is optional. The network is rebuilt from the layer list in the JSON (every layer's kind,
state-dict name, inputs and channels), so every family PruneFuse knows, dense or pruned, loads with this one file.
"""
import json
import os
import struct
import sys

import torch
from torch import nn
import torch.nn.functional as F

FORMAT = "prunefuse-network/2"


class DescribedNetwork(nn.Module):
    """The network of a PruneFuse description: modules under their state-dict names, forward in layer order."""

    def __init__(self, layers):
        super().__init__()
        self._layers = layers
        self._feature_layer = next(i for i, l in enumerate(layers) if l.get("features"))
        self._by_index = {}
        for i, l in enumerate(layers):
            kind = l["kind"]
            if kind == "Conv":
                groups = l["channels"] if l["depthwise"] else 1
                m = nn.Conv2d(l["inChannels"], l["channels"], l["kernel"], stride=l["stride"], padding=l["padding"],
                              groups=groups, bias=l["bias"])
            elif kind == "BatchNorm":
                m = nn.BatchNorm2d(l["channels"])
            elif kind == "Linear":
                m = nn.Linear(l["inChannels"], l["channels"])
            else:
                continue
            self._register(l["name"], m)
            self._by_index[i] = m

    def _register(self, name, module):
        parent = self
        parts = name.split(".")
        for part in parts[:-1]:
            child = parent._modules.get(part)
            if child is None:
                child = nn.Module()
                parent.add_module(part, child)
            parent = child
        parent.add_module(parts[-1], module)

    def _run(self, start, first, last):
        out = {first: start}
        for i in range(first + 1, last + 1):
            l = self._layers[i]
            x = out[l["inputs"][0]]
            kind = l["kind"]
            if kind in ("Conv", "BatchNorm", "Linear"):
                y = self._by_index[i](x)
            elif kind == "Relu":
                y = F.relu(x)
            elif kind == "Relu6":
                y = F.relu6(x)
            elif kind == "Add":
                y = x + out[l["inputs"][1]]
            elif kind == "MaxPool":
                y = F.max_pool2d(x, l["kernel"], l["stride"], l["padding"])
            elif kind == "GlobalAvgPool":
                y = x.mean(dim=(2, 3))
            elif kind == "AdaptiveAvgPool":
                y = F.adaptive_avg_pool2d(x, l["size"])
            elif kind == "Flatten":
                y = torch.flatten(x, 1)
            elif kind == "Dropout":
                y = F.dropout(x, l["rate"], self.training)
            else:
                raise ValueError(f"unknown layer kind {kind}")
            out[i] = y
        return out[last]

    def penultimate(self, x):
        """The classifier's input features (method name chosen not to clash with a `features` submodule)."""
        return self._run(x, 0, self._feature_layer)

    def forward(self, x):
        return self._run(x, 0, len(self._layers) - 1)


_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    """A minimal safetensors reader (8-byte header length, JSON header, raw little-endian data)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file")
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(entry["shape"]).clone()
    return out


def load(description_path):
    """Builds the network described by the JSON, loads its weights (strict) and returns (model in eval mode, info)."""
    with open(description_path) as f:
        info = json.load(f)
    if info.get("format") != FORMAT:
        raise ValueError(f"{description_path}: not a {FORMAT} description")
    model = DescribedNetwork(info["layers"])
    weights = os.path.join(os.path.dirname(os.path.abspath(description_path)), info["weights"])
    if info["weightsFormat"] == "safetensors":
        state = read_safetensors(weights)
    else:
        state = torch.load(weights, map_location="cpu")
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, info


def preprocess(pixels, info):
    """uint8 images [N, C, H, W] (numpy or torch) -> the normalised float32 input the network was trained on."""
    x = torch.as_tensor(pixels).to(torch.float32) / 255.0
    mean = torch.tensor(info["normalization"]["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(info["normalization"]["std"], dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean) / std


if __name__ == "__main__":
    # python3 prunefuse_model.py MODEL.json IMAGES.u8 N H W OUT.f32: logits of N raw uint8 NCHW images, as float32.
    if len(sys.argv) != 7:
        sys.exit("usage: prunefuse_model.py MODEL.json IMAGES.u8 COUNT HEIGHT WIDTH LOGITS.f32")
    model, info = load(sys.argv[1])
    count, height, width = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    with open(sys.argv[2], "rb") as f:
        raw = bytearray(f.read())
    c = info["inputChannels"]
    pixels = torch.frombuffer(raw, dtype=torch.uint8)
    pixels = pixels.reshape(count, c, height, width)
    with torch.no_grad():
        logits = model(preprocess(pixels, info)).to(torch.float32).contiguous()
    with open(sys.argv[6], "wb") as f:
        f.write(logits.numpy().tobytes())
    print(f"{count} images -> logits {tuple(logits.shape)}")

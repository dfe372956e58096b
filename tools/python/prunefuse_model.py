"""Load a network exported by `prunefuse model export` into PyTorch.

    import prunefuse_model
    model, info = prunefuse_model.load("exports/final.json")   # eval mode, CPU
    x = prunefuse_model.preprocess(uint8_images_nchw, info)     # pixels/255, then (x - mean) / std
    logits = model(x)

Needs only torch (and numpy for preprocess of numpy arrays). The safetensors reader is built in, so the
`safetensors` package is optional. The architecture is the CIFAR-style ResNet (depth 6n+2) of PruneFuse with
the stage and block widths recorded in the JSON, so pruned selectors and fused networks load alike.
"""
import json
import os
import struct
import sys

import torch
from torch import nn
import torch.nn.functional as F

FORMAT = "prunefuse-resnet/1"


class BasicBlock(nn.Module):
    def __init__(self, in_ch, inner, out_ch, stride, projection):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, inner, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if projection:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        o = self.bn2(self.conv2(h))
        return F.relu(o + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, input_channels, num_classes, stage_widths, block_widths):
        super().__init__()
        w = stage_widths
        self.conv1 = nn.Conv2d(input_channels, w[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        stages = []
        for s in range(3):
            blocks = []
            for b, inner in enumerate(block_widths[s]):
                in_ch = w[s - 1] if (b == 0 and s > 0) else w[s]
                stride = 2 if (b == 0 and s > 0) else 1
                blocks.append(BasicBlock(in_ch, inner, w[s], stride, projection=(s > 0 and b == 0)))
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(w[2], num_classes)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


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
    model = ResNet(info["inputChannels"], info["numClasses"], info["stageWidths"], info["blockWidths"])
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

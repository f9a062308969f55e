"""PyTorch reference runs for graft's ResNet parity checks.

One place defines what `graft step` must reproduce: the models (torchvision
ResNets, and the CIFAR-style ResNet built from torchvision's BasicBlock with
graft's module names) and the step itself (training-mode forward, mean
cross-entropy, backward, N optimizer steps on the same batch, then an
eval-mode forward). Used by gen_resnet_fixtures.py and check_step.py.
Runs under Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14).
"""
import re

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class CifarResNet(nn.Module):
    """3x3 stem, three stages of BasicBlocks, 1x1 downsample shortcuts."""

    def __init__(self, blocks, widths, num_classes):
        super().__init__()
        block = torchvision.models.resnet.BasicBlock
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        inplanes = widths[0]
        for s, (n, w) in enumerate(zip(blocks, widths)):
            layers = []
            for b in range(n):
                stride = 2 if (b == 0 and s > 0) else 1
                down = None
                if stride != 1 or inplanes != w:
                    down = nn.Sequential(nn.Conv2d(inplanes, w, 1, stride, bias=False), nn.BatchNorm2d(w))
                layers.append(block(inplanes, w, stride, down))
                inplanes = w
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(model, num_classes, widths=None):
    if model in ("resnet18", "resnet34", "resnet50", "resnet101"):
        return getattr(torchvision.models, model)(num_classes=num_classes)
    m = re.fullmatch(r"resnet(\d+)", model)
    depth = int(m.group(1)) if m else 0
    if depth < 8 or (depth - 2) % 6:
        raise ValueError("unknown model " + model)
    return CifarResNet([(depth - 2) // 6] * 3, widths or [16, 32, 64], num_classes)


def make_optimizer(params, opt):
    if opt["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=opt["lr"], momentum=opt.get("momentum", 0.0),
                               weight_decay=opt.get("weight_decay", 0.0),
                               nesterov=bool(opt.get("nesterov", 0)))
    return torch.optim.AdamW(params, lr=opt["lr"], betas=(opt.get("beta1", 0.9), opt.get("beta2", 0.999)),
                             eps=opt.get("eps", 1e-8), weight_decay=opt.get("weight_decay", 0.01))


def run_step(model, images, labels, opt, steps, label_smoothing=0.0):
    """Returns a dict of numpy arrays named as graft step's output file."""
    out = {}
    model.train()
    optim = make_optimizer(model.parameters(), opt)
    for s in range(max(steps, 1)):
        optim.zero_grad()
        logits = model(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
        loss.backward()
        if s == 0:
            out["logits"] = logits.detach().numpy().copy()
            out["loss"] = loss.detach().numpy().copy()
            for name, p in model.named_parameters():
                out["grad." + name] = p.grad.numpy().copy()
        if steps > 0:
            optim.step()
    for name, p in model.named_parameters():
        out["param." + name] = p.detach().numpy().copy()
    for name, b in model.named_buffers():
        out["buffer." + name] = b.numpy().copy()
    model.eval()
    with torch.no_grad():
        out["eval_logits"] = model(images).numpy().copy()
    return out



class ReluMargin:
    """Records the smallest |x| over every ReLU input while attached.

    A ReLU input within rounding of zero makes the gradient flip on float32
    noise; both answers are then right, so parity checks choose inputs that
    keep a margin from every kink in every training forward."""

    def __init__(self, model):
        self.smallest = float("inf")
        self.hooks = [m.register_forward_pre_hook(self._pre) for m in model.modules() if isinstance(m, nn.ReLU)]

    def _pre(self, module, inp):
        if module.training:
            self.smallest = min(self.smallest, float(inp[0].detach().abs().min()))

    def close(self):
        for h in self.hooks:
            h.remove()
        return self.smallest

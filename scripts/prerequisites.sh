# Shared checks for scripts/*.sh: install what is missing, or fail at once naming it.

require_dotnet() {
    if ! command -v dotnet >/dev/null 2>&1; then
        echo "error: the .NET 10 SDK is required (dotnet not on PATH). Install it: https://learn.microsoft.com/dotnet/core/install/linux-debian" >&2
        exit 2
    fi
    local major
    major=$(dotnet --version 2>/dev/null | cut -d. -f1)
    if [ "${major:-0}" -lt 10 ]; then
        echo "error: .NET SDK 10 or newer is required, found $(dotnet --version 2>/dev/null || echo none)" >&2
        exit 2
    fi
}

apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "error: need root (or sudo) to run: apt-get install -y $*" >&2
            exit 2
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: apt-get not found; install these Debian packages by hand: $*" >&2
        exit 2
    fi
    echo "==> installing $* (apt-get)"
    $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null || {
        echo "error: apt-get install $* failed" >&2
        exit 2
    }
}

ensure_fashion_mnist() {
    local dir="${PRUNEFUSE_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
    if [ ! -f "$dir/train-images-idx3-ubyte.gz" ] && [ ! -f "$dir/train-images-idx3-ubyte" ]; then
        if [ -n "${PRUNEFUSE_FASHION_MNIST:-}" ]; then
            echo "error: PRUNEFUSE_FASHION_MNIST=$dir holds no train-images-idx3-ubyte[.gz]" >&2
            exit 2
        fi
        apt_install dataset-fashion-mnist
    fi
    if [ ! -f "$dir/train-images-idx3-ubyte.gz" ] && [ ! -f "$dir/train-images-idx3-ubyte" ]; then
        echo "error: Fashion-MNIST still missing from $dir after installing dataset-fashion-mnist" >&2
        exit 2
    fi
}

# Azurite (the Azure Storage emulator) for the cluster storage tests, installed into .tools/azurite.
# 3.35.0 is the newest release whose engines accept Debian 12's Node.js 18.
AZURITE_VERSION=3.35.0
ensure_azurite() {
    local bin=".tools/azurite/node_modules/.bin/azurite"
    if [ -x "$bin" ] && [ -f ".tools/azurite/.version-$AZURITE_VERSION" ]; then return; fi
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    echo "==> installing azurite@$AZURITE_VERSION (npm) into .tools/azurite"
    mkdir -p .tools/azurite
    if ! npm install --prefix .tools/azurite --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null; then
        echo "error: npm install azurite@$AZURITE_VERSION failed" >&2
        exit 2
    fi
    touch ".tools/azurite/.version-$AZURITE_VERSION"
}

# Debian's PyTorch and torchvision (the exported-model tests load networks in real PyTorch outside .NET, into
# torchvision's own model classes where a family mirrors one) and Chromium (the HTML report is rendered headless).
# Always /usr/bin/python3: a pyenv or venv python on PATH has no Debian packages.
ensure_python_torch() {
    if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch, torchvision" >/dev/null 2>&1; then return; fi
    apt_install python3-torch python3-torchvision
    if ! /usr/bin/python3 -c "import torch, torchvision" >/dev/null 2>&1; then
        echo "error: /usr/bin/python3 cannot import torch and torchvision after installing python3-torch python3-torchvision" >&2
        exit 2
    fi
}

ensure_chromium() {
    if [ -x /usr/bin/chromium ]; then return; fi
    apt_install chromium
}

# kubectl renders deploy/k8s (kustomize); the schema packages validate the result offline (deploy/k8s/validate.mjs).
# Debian 12's kubernetes-client (kubectl 1.20, kustomize v2) is enough; a newer kubectl already on PATH is used as is.
# CommonJS releases of the npm packages, so Debian 12's Node.js 18 runs them.
K8S_VALIDATE_PACKAGES="kubernetes-models@4.5.1 @kubernetes/client-node@0.22.3 js-yaml@4.1.0"
ensure_k8s_tools() {
    command -v kubectl >/dev/null 2>&1 || apt_install kubernetes-client
    local stamp=".tools/k8s-validate/.version-$(echo "$K8S_VALIDATE_PACKAGES" | sed 's/[ @/]/_/g')"
    if [ -f "$stamp" ]; then return; fi
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    echo "==> installing $K8S_VALIDATE_PACKAGES (npm) into .tools/k8s-validate"
    mkdir -p .tools/k8s-validate
    # shellcheck disable=SC2086
    if ! npm install --prefix .tools/k8s-validate --no-audit --no-fund --loglevel=error $K8S_VALIDATE_PACKAGES >/dev/null; then
        echo "error: npm install $K8S_VALIDATE_PACKAGES failed" >&2
        exit 2
    fi
    touch "$stamp"
}

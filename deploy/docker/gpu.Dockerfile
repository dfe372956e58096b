# PruneFuse GPU image: the same silo and console built with the CUDA backends: pool scoring on ONNX Runtime's
# CUDA execution provider (-p:OnnxBackend=cuda, package Microsoft.ML.OnnxRuntime.Gpu.Linux) and training on
# libtorch-cuda (-p:TorchBackend=cuda).
# Build from the repository root:
#   docker build -f deploy/docker/gpu.Dockerfile -t prunefuse/silo-gpu:0.1.0 .
# Where TorchSharp-cuda-linux cannot be restored (it is not on every package feed), build with
#   --build-arg TORCH_BACKEND=cpu
# to score on the GPU and train on the CPU: everything that build needs is on the feed.
# The runtime base is NVIDIA's CUDA 13 + cuDNN 9 runtime image on Ubuntu 24.04 (libstdc++ from GCC 14): ONNX
# Runtime 1.31's CUDA provider links the system's libcudart.so.13, cuBLAS 13 and cuRAND and loads cuDNN 9;
# only the driver comes from the node (NVIDIA container toolkit).
FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
ARG TORCH_BACKEND=cuda
WORKDIR /src
COPY . .
RUN dotnet publish src/Silo/PruneFuse.Silo.csproj -c Release -p:TorchBackend=${TORCH_BACKEND} -p:OnnxBackend=cuda -o /out/silo \
 && dotnet publish src/Client/PruneFuse.Client.csproj -c Release -p:TorchBackend=${TORCH_BACKEND} -p:OnnxBackend=cuda -o /out/client

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS dotnet

FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libicu74 libgomp1 fontconfig fonts-dejavu-core dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1654 app && useradd --uid 1654 --gid 1654 --no-create-home app
COPY --from=dotnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
WORKDIR /app
COPY --from=build /out/silo /app/silo
COPY --from=build /out/client /app/client
USER app
ENV Urls=http://0.0.0.0:8080 \
    DOTNET_gcServer=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
EXPOSE 11111 30000 8080
ENTRYPOINT ["dotnet", "/app/silo/prunefuse-silo.dll"]

# PruneFuse GPU image: the same silo and console built with the CUDA backend (-p:TorchBackend=cuda).
# Build from the repository root:
#   docker build -f deploy/docker/gpu.Dockerfile -t prunefuse/silo-gpu:0.1.0 .
# The runtime base is NVIDIA's CUDA 12 image on Ubuntu 24.04 (libstdc++ from GCC 14); libtorch-cuda brings
# its own cuDNN and cuBLAS, so only the driver comes from the node (NVIDIA container toolkit).
FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Silo/PruneFuse.Silo.csproj -c Release -p:TorchBackend=cuda -o /out/silo \
 && dotnet publish src/Client/PruneFuse.Client.csproj -c Release -p:TorchBackend=cuda -o /out/client

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS dotnet

FROM nvidia/cuda:12.8.1-base-ubuntu24.04
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

# PruneFuse CPU image: the silo (prunefuse-silo) and the console (prunefuse), libtorch for CPU.
# Build from the repository root:
#   docker build -f deploy/docker/cpu.Dockerfile -t prunefuse/silo-cpu:0.1.0 .
# Ubuntu 24.04 (the .NET 10 default) ships libstdc++ from GCC 14, new enough for TorchSharp's natives, so the
# build's GLIBCXX weakening step is a no-op here.
FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Silo/PruneFuse.Silo.csproj -c Release -o /out/silo \
 && dotnet publish src/Client/PruneFuse.Client.csproj -c Release -o /out/client

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble
# libgomp: libtorch's OpenMP runtime; fonts: report plots; Fashion-MNIST: the main job's dataset at Debian's path.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 fontconfig fonts-dejavu-core dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /out/silo /app/silo
COPY --from=build /out/client /app/client
# The non-root user the .NET images define (uid 1654).
USER app
ENV Urls=http://0.0.0.0:8080 \
    DOTNET_gcServer=1
EXPOSE 11111 30000 8080
ENTRYPOINT ["dotnet", "/app/silo/prunefuse-silo.dll"]

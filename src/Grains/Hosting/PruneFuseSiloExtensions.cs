using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime.Hosting;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Hosting;

/// <summary>Registers PruneFuse's grains' services on a silo.</summary>
public static class PruneFuseSiloExtensions
{
    /// <summary>Adds the artifact store, the per-silo compute service and the shared experiment reader.</summary>
    public static ISiloBuilder AddPruneFuse(this ISiloBuilder builder, Func<IServiceProvider, IArtifactStore> store)
    {
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton<ComputeService>();
        builder.Services.AddSingleton<ExperimentStore>();
        return builder;
    }

    /// <summary>Embedded default: artifacts and grain state under one local folder.</summary>
    public static ISiloBuilder AddPruneFuseEmbedded(this ISiloBuilder builder, string dataRoot)
    {
        builder.AddPruneFuse(_ => new FileSystemArtifactStore(Path.Combine(dataRoot, "artifacts")));
        builder.Services.AddGrainStorage(GrainStorage.Name, (_, _) => new FileGrainStorage(Path.Combine(dataRoot, "grain-state")));
        return builder;
    }

    /// <summary>Cluster mode: artifacts in an Azure Blob container.</summary>
    public static ISiloBuilder AddPruneFuseAzureArtifacts(this ISiloBuilder builder, BlobServiceClient blobs, string container) =>
        builder.AddPruneFuse(_ => new AzureBlobArtifactStore(blobs, container));
}

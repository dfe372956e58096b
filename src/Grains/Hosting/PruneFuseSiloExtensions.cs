using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime.Hosting;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Experiments;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using PruneFuse.Grains.Placement;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Hosting;

/// <summary>Registers PruneFuse's grains' services on a silo.</summary>
public static class PruneFuseSiloExtensions
{
    /// <summary>
    /// Adds the artifact store, the per-silo compute service, the shared experiment reader, the GPU-preferring
    /// placement filter and this silo's <c>accelerator</c> metadata (<c>gpu</c>, <c>cpu</c>, or <c>auto</c> = gpu when CUDA is available).
    /// </summary>
    public static ISiloBuilder AddPruneFuse(this ISiloBuilder builder, Func<IServiceProvider, IArtifactStore> store, string accelerator = "auto", ComputeOptions? compute = null)
    {
        var resolved = accelerator switch
        {
            Accelerator.Gpu or Accelerator.Cpu => accelerator,
            "auto" => Learning.Runtime.TorchRuntime.Device.type == TorchSharp.DeviceType.CUDA ? Accelerator.Gpu : Accelerator.Cpu,
            _ => throw new ArgumentException($"accelerator must be gpu, cpu or auto, got '{accelerator}'"),
        };
        var options = compute ?? new ComputeOptions();
        // Published so a coordinator on any silo knows where scoring may go and how many units each silo takes at once.
        builder.UseSiloMetadata(new Dictionary<string, string> { [Accelerator.Key] = resolved, [ComputeSilos.SlotsKey] = options.Slots.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        builder.Services.AddPlacementDirector<SiloBoundPlacementStrategy, SiloBoundPlacementDirector>();
        builder.Services.AddPlacementFilter<PreferGpuPlacementFilterStrategy, PreferGpuPlacementFilterDirector>(ServiceLifetime.Singleton);
        builder.AddIncomingGrainCallFilter<ErrorTranslationFilter>();
        builder.Services.AddSingleton(store);
        // A gpu silo scores on CUDA when its ONNX Runtime can (GPU builds), else on CPU with one log line saying why.
        builder.Services.AddSingleton(options with
        {
            OnnxDevice = resolved == Accelerator.Gpu ? Learning.Scoring.OnnxDevice.Auto : Learning.Scoring.OnnxDevice.Cpu,
        });
        builder.Services.AddSingleton<TorchWorker>();
        builder.Services.AddSingleton<ComputeSilos>();
        builder.Services.AddSingleton<ShardCache>();
        builder.Services.AddSingleton<ReplicaCache>();
        builder.Services.AddSingleton<Datasets.ImportSourceCache>();
        builder.Services.AddSingleton<ExperimentStore>();
        builder.Services.AddSingleton<SiloWebAddress>();
        return builder;
    }

    /// <summary>Embedded default: artifacts and grain state under one local folder.</summary>
    public static ISiloBuilder AddPruneFuseEmbedded(this ISiloBuilder builder, string dataRoot, string accelerator = "auto", ComputeOptions? compute = null)
    {
        // Made now, while the silo is configured: its clean-up of dead writers' temporary files then runs before this
        // silo takes any work, never under another silo's write into a shared folder.
        var artifacts = new FileSystemArtifactStore(Path.Combine(dataRoot, "artifacts"));
        builder.AddPruneFuse(_ => artifacts, accelerator, compute);
        builder.Services.AddGrainStorage(GrainStorage.Name, (_, _) => new FileGrainStorage(Path.Combine(dataRoot, "grain-state")));
        return builder;
    }

    /// <summary>Cluster mode: artifacts in an Azure Blob container.</summary>
    public static ISiloBuilder AddPruneFuseAzureArtifacts(this ISiloBuilder builder, BlobServiceClient blobs, string container, string accelerator = "auto", ComputeOptions? compute = null) =>
        builder.AddPruneFuse(_ => new AzureBlobArtifactStore(blobs, container), accelerator, compute);
}

using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using PruneFuse.Grains.Hosting;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Tests;

/// <summary>
/// Arch, metric, pruning method and label source were strings in <see cref="ExperimentSpec"/> until they became enums.
/// The fixtures were written by that earlier version (commit cea4b3b) in each stored form: coordinator state through
/// the
/// Orleans codec (Azure Table storage in cluster mode), coordinator state as the embedded mode's JSON file, and
/// spec.json.
/// Their strings are a user's spellings the old validation accepted ("ResNet14", "lc").
/// </summary>
public sealed class StoredSpecMigrationTests
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    private static readonly ExperimentSpec Expected = new()
    {
        DatasetId = "fmnist", Arch = "resnet14", Selector = SelectorKind.Proxy, ProxyArch = "resnet8", PruningMethod = PruningMethod.Random,
        Metric = Metric.LeastConfidence, LabelSource = LabelSource.External, Rounds = 4, Seed = 42, DistillationAlpha = 0.25,
    };

    private static OrleansGrainStorageSerializer OrleansCodec() =>
        new(new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(CoordinatorState).Assembly)).BuildServiceProvider().GetRequiredService<Serializer>());

    [Fact]
    public void Coordinator_state_stored_through_the_Orleans_codec_by_the_string_version_decodes_and_round_trips()
    {
        var codec = OrleansCodec();
        var state = codec.Deserialize<CoordinatorState>(new BinaryData(File.ReadAllBytes(Path.Combine(Fixtures, "coordinator-state-v1.orleans.bin"))))!;
        Assert.Equal(Expected, state.Spec);
        Assert.Equal(CoordinatorStep.AwaitLabels, state.Step);
        Assert.Equal(3000, state.Labeled);
        Assert.Equal(Expected, codec.Deserialize<CoordinatorState>(codec.Serialize(state))!.Spec);
    }

    [Fact]
    public void Names_travel_as_the_same_strings_so_older_silos_read_what_newer_ones_write()
    {
        // The string version decodes these fields as strings: the names must be on the wire, not enum numbers.
        var codec = OrleansCodec();
        var canonical = Expected with { Arch = "resnet8", Metric = Metric.Entropy };
        var bytes = codec.Serialize(new CoordinatorState { Spec = canonical }).ToArray();
        foreach (var name in new[] { "resnet8", "entropy", "random", "external" })
        {
            Assert.True(bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(name)) >= 0, $"'{name}' is not in the encoded state");
        }
    }

    [Fact]
    public async Task Coordinator_state_file_of_the_embedded_mode_written_by_the_string_version_reads()
    {
        var root = Directory.CreateTempSubdirectory("prunefuse-state-").FullName;
        try
        {
            var storage = new FileGrainStorage(root);
            var grain = GrainId.Create("coordinator", "x");
            var written = new GrainState<CoordinatorState>(new CoordinatorState { Spec = Expected });
            await storage.WriteStateAsync("experiment", grain, written);
            // Put the old file where the storage keeps this grain's state, then read it through the storage.
            var file = Directory.GetFiles(root).Single();
            File.Copy(Path.Combine(Fixtures, "coordinator-state-v1.json"), file, overwrite: true);
            var read = new GrainState<CoordinatorState>();
            await storage.ReadStateAsync("experiment", grain, read);
            Assert.Equal(Expected, read.State!.Spec);
            await storage.WriteStateAsync("experiment", grain, read);
            var rewritten = File.ReadAllText(file);
            Assert.Contains("\"Metric\": \"least-confidence\"", rewritten);
            Assert.Contains("\"Arch\": \"resnet14\"", rewritten);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Spec_json_written_by_the_string_version_reads_and_names_stay_strings()
    {
        var spec = ArtifactJson.Decode<ExperimentSpec>(File.ReadAllBytes(Path.Combine(Fixtures, "spec-v1.json")), "spec-v1.json", "experiment spec");
        Assert.Equal(Expected, spec);
        using var json = JsonDocument.Parse(ArtifactJson.Encode(spec));
        Assert.Equal("resnet14", json.RootElement.GetProperty("arch").GetString());
        Assert.Equal("least-confidence", json.RootElement.GetProperty("metric").GetString());
        Assert.Equal("random", json.RootElement.GetProperty("pruningMethod").GetString());
        Assert.Equal("external", json.RootElement.GetProperty("labelSource").GetString());
    }

    [Fact]
    public void A_stored_spec_with_a_name_no_version_knows_is_a_clear_error()
    {
        var bytes = File.ReadAllText(Path.Combine(Fixtures, "spec-v1.json")).Replace("\"lc\"", "\"badge\"", StringComparison.Ordinal);
        var e = Assert.Throws<PruneFuse.Learning.Data.DataFormatException>(() =>
            ArtifactJson.Decode<ExperimentSpec>(System.Text.Encoding.UTF8.GetBytes(bytes), "experiments/x/spec.json", "experiment spec"));
        Assert.Contains("experiments/x/spec.json", e.Message);
        Assert.Contains("unknown selection metric 'badge'; known: least-confidence, entropy, margin, random, k-center", e.Message);
    }
}

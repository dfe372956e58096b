using System.Text.Json;
using PruneFuse.Grains.Experiments;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Scoring;

namespace PruneFuse.Grains.Tests;

[Collection("cluster")]
public sealed class ExperimentTests(ClusterFixture fx)
{
    private FileSystemArtifactStore Store => new(Path.Combine(fx.DataRoot, "artifacts"));

    [Fact]
    public async Task Small_pruned_experiment_completes_through_the_cluster()
    {
        var spec = ClusterFixture.SmallSpec();
        var started = await fx.Client.GetGrain<ICoordinatorGrain>("small-1").Start(spec);
        Assert.Equal(ExperimentState.Running, started.State);
        var done = await fx.WaitAsync("small-1");
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        Assert.Equal(2, done.Rounds.Length);
        Assert.Equal([350, 500], done.Rounds.Select(r => r.Labeled));
        Assert.All(done.Rounds, r => Assert.Equal(3000 - (r.Labeled - 150), r.Scored));
        Assert.All(done.Rounds, r => Assert.InRange(r.SelectorAccuracy!.Value, 0.0, 1.0));
        // Learning quality is checked by the learning-core tests; a 4-epoch selector on 350 images is a plumbing check.
        Assert.NotNull(done.Final);
        Assert.True(done.Final!.Fused);
        Assert.Equal(2, done.Final.EpochAccuracies.Length);
        Assert.InRange(done.Final.Accuracy, 0.05, 1.0);
        Assert.True(done.SelectorParams > 0 && done.SelectorMacs > 0);
        // Every artifact of the run is in the store.
        foreach (var name in new[] { ArtifactLayout.Theta0("small-1"), ArtifactLayout.Selector("small-1", 3), ArtifactLayout.Final("small-1"), ArtifactLayout.Report("small-1") })
        {
            Assert.NotNull(await Store.GetInfoAsync(name));
        }
        Assert.Null(done.Training);

        // The training grains keep their last run's progress: every epoch reported, with loss (and accuracy for the
        // final network, which evaluates every epoch).
        var selector = fx.Client.GetGrain<ISelectorGrain>("small-1");
        var selectorProgress = await selector.GetTrainingProgress();
        Assert.NotNull(selectorProgress);
        // The default: every selector, the final one (the fusion source) included, trains from its θ0 slice.
        Assert.Equal((false, FusionSource.Retrain), (spec.SelectorWarmStart, spec.FusionSource));
        Assert.All(done.Rounds, r => Assert.Equal((spec.SelectorEpochs, (string?)null), (r.SelectorEpochs, r.SelectorStartedFrom)));
        Assert.Equal((spec.SelectorEpochs, (string?)null), (done.FinalSelectorEpochs, done.FinalSelectorStartedFrom));
        Assert.Equal(("selector", spec.SelectorEpochs, spec.SelectorEpochs), (selectorProgress!.Network, selectorProgress.Epoch, selectorProgress.Epochs));
        Assert.True(double.IsFinite(selectorProgress.TrainLoss!.Value) && selectorProgress.Seconds > 0);
        Assert.Equal(0, selectorProgress.EtaSeconds);
        var finalProgress = await fx.Client.GetGrain<IFusionGrain>("small-1").GetTrainingProgress();
        Assert.Equal(("final network", spec.FinalEpochs), (finalProgress!.Network, finalProgress.Epoch));
        Assert.Equal(done.Final.Accuracy, finalProgress.TestAccuracy);
        Assert.StartsWith($"epoch {spec.FinalEpochs}/{spec.FinalEpochs}, loss ", finalProgress.ToString());

        // Progress answers while a training runs (it interleaves): train round 1's selector again (idempotent).
        var labeled = await Store.GetInfoAsync(ArtifactLayout.Labeled("small-1", 1));
        var again = selector.Train(new SelectorTrainRequest { ExperimentId = "small-1", Round = 1, Labeled = new ArtifactRef(labeled!.Name, labeled.ETag) });
        await selector.GetTrainingProgress();
        Assert.False(again.IsCompleted, "the progress query waited for the training to end");
        Assert.Equal(spec.SelectorEpochs, (await again).Epochs); // no epochs in the request: the spec's
    }

    [Fact]
    public async Task Selection_through_shards_equals_single_process_selection()
    {
        var spec = ClusterFixture.SmallSpec(seed: 7) with { Rounds = 1 };
        await fx.Client.GetGrain<ICoordinatorGrain>("equal-1").Start(spec);
        var done = await fx.WaitAsync("equal-1");
        Assert.True(done.State == ExperimentState.Completed, done.Error);

        // Same checkpoint, same labeled set, the whole pool scored in one process by the learning core.
        var store = Store;
        var selectorName = ArtifactLayout.Selector("equal-1", 1);
        var (selector, _) = Checkpoint.Load(await store.ReadBytesAsync(selectorName), selectorName);
        var labeled = new HashSet<long>(ArtifactJson.LabeledFrom(await store.ReadBytesAsync(ArtifactLayout.Labeled("equal-1", 1)), "labeled"));
        var manifest = Datasets.DatasetManifest.Parse(await store.ReadBytesAsync(ArtifactLayout.DatasetManifest(ClusterFixture.Dataset)), "manifest");
        var expected = new List<ScoredSample>();
        var scorer = new PoolScorer(selector, manifest.Normalization);
        var perShard = new List<IReadOnlyList<ScoredSample>>();
        var whole = new TopKAccumulator(spec.RoundSize);
        foreach (var shard in manifest.Shards)
        {
            var (_, images) = PoolShardFormat.ReadFile(Path.Combine(fx.DataRoot, "artifacts", shard.Artifact));
            var r = scorer.TopK(PoolScorer.Batches(images, 128), 1, 28, 28, SelectionMetric.LeastConfidence, spec.RoundSize, labeled, 0);
            whole.AddRange(r.TopK);
        }
        expected = whole.Result();
        var selection = JsonSerializer.Deserialize<SampleScore[]>(await store.ReadBytesAsync(ArtifactLayout.Selection("equal-1", 1)), ArtifactJson.Options)!;
        Assert.Equal(expected.Select(e => e.SampleId), selection.Select(s => s.SampleId));
        Assert.DoesNotContain(selection, s => labeled.Contains(s.SampleId));
        selector.Dispose();
    }

    [Fact]
    public async Task Distributed_k_center_through_the_shards_equals_the_two_stage_selection_over_the_whole_labeled_set()
    {
        var spec = ClusterFixture.SmallSpec(seed: 4) with { Rounds = 1, FinalEpochs = 1, SelectorEpochs = 1, Metric = Metric.KCenter };
        const string id = "kcenter-equal";
        await fx.Client.GetGrain<ICoordinatorGrain>(id).Start(spec);
        var done = await fx.WaitAsync(id);
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        Assert.Equal(350, done.Rounds.Single().Labeled);
        Assert.True(done.Final!.Fused);

        // The same selector and labeled set, both stages run in one process: every shard's local stage and the merge
        // measure distance to the whole labeled set (in id order, as the grains gather it).
        var store = Store;
        var selectorName = ArtifactLayout.Selector(id, 1);
        var (selector, _) = Checkpoint.Load(await store.ReadBytesAsync(selectorName), selectorName);
        using var _ = selector;
        var labeled = new HashSet<long>(ArtifactJson.LabeledFrom(await store.ReadBytesAsync(ArtifactLayout.Labeled(id, 1)), "labeled"));
        var manifest = Datasets.DatasetManifest.Parse(await store.ReadBytesAsync(ArtifactLayout.DatasetManifest(ClusterFixture.Dataset)), "manifest");
        using var scorer = new PoolScorer(selector, manifest.Normalization);
        var candidates = new List<IReadOnlyList<KCenterCandidate>>();
        var labeledIds = new List<long>();
        var labeledLabels = new List<int>();
        var labeledPixels = new MemoryStream();
        foreach (var shard in manifest.Shards)
        {
            var (_, images) = PoolShardFormat.ReadFile(Path.Combine(fx.DataRoot, "artifacts", shard.Artifact));
            candidates.Add(scorer.Features(PoolScorer.Batches(images, 128), 1, 28, 28, labeled).Unlabeled);
            var mine = Enumerable.Range(0, images.Count).Where(i => labeled.Contains(images.Ids[i])).OrderBy(i => images.Ids[i]).ToArray();
            var part = images.Subset(mine);
            labeledIds.AddRange(part.Ids);
            labeledLabels.AddRange(part.Labels);
            labeledPixels.Write(part.Pixels);
        }
        Assert.Equal(labeled.Count, labeledIds.Count);
        var centers = scorer.Centers(new ImageSet([.. labeledIds], [.. labeledLabels], labeledPixels.ToArray(), 1, 28, 28));
        var expected = KCenterGreedy.SelectDistributed(candidates, centers, spec.RoundSize).Select(c => c.SampleId);
        var selection = JsonSerializer.Deserialize<SampleScore[]>(await store.ReadBytesAsync(ArtifactLayout.Selection(id, 1)), ArtifactJson.Options)!;
        Assert.Equal(expected, selection.Select(s => s.SampleId));
    }

    [Fact]
    public async Task Same_spec_and_seed_select_the_same_samples()
    {
        var spec = ClusterFixture.SmallSpec(seed: 11) with { Rounds = 1, FinalEpochs = 1 };
        await fx.Client.GetGrain<ICoordinatorGrain>("det-a").Start(spec);
        await fx.Client.GetGrain<ICoordinatorGrain>("det-b").Start(spec);
        Assert.Equal(ExperimentState.Completed, (await fx.WaitAsync("det-a")).State);
        Assert.Equal(ExperimentState.Completed, (await fx.WaitAsync("det-b")).State);
        var a = await Store.ReadBytesAsync(ArtifactLayout.Selection("det-a", 1));
        var b = await Store.ReadBytesAsync(ArtifactLayout.Selection("det-b", 1));
        Assert.Equal(a, b);
    }

    [Fact]
    public async Task A_coordinator_deactivated_mid_step_stops_its_step_and_the_next_activation_finishes_the_experiment()
    {
        var started = DateTime.UtcNow;
        // Idle collection, migration or a management call can deactivate the coordinator while its silo lives. Its
        // loop is not a grain call: unless deactivation stops it, the old activation's step runs to its end beside the
        // next activation's run of the same step (Orleans still runs work scheduled on a deactivated activation).
        var spec = ClusterFixture.SmallSpec(seed: 21) with { Rounds = 1, SelectorEpochs = 6, FinalEpochs = 1 };
        var grain = fx.Client.GetGrain<ICoordinatorGrain>("deact");
        await fx.Client.GetGrain<ICoordinatorGrain>("deact-twin").Start(spec);
        await grain.Start(spec);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while ((await grain.GetStatus()) is not { Training.Epoch: >= 1, Rounds.Length: 0 })
        {
            Assert.True(DateTime.UtcNow < deadline, "round 1's selector training never started");
            await Task.Delay(50);
        }
        await grain.Cast<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle();

        var done = await fx.WaitAsync("deact");
        var twin = await fx.WaitAsync("deact-twin");
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        Assert.True(twin.State == ExperimentState.Completed, twin.Error);
        Assert.Null(done.Warning);
        Assert.Equal(await Store.ReadBytesAsync(ArtifactLayout.Selection("deact-twin", 1)), await Store.ReadBytesAsync(ArtifactLayout.Selection("deact", 1)));
        Assert.Equal(twin.Final!.Accuracy, done.Final!.Accuracy);
        // The deactivated activation stopped its step (the silo's log says so) rather than finishing it unseen.
        var logged = false;
        for (var i = 0; i < 40 && !logged; i++, await Task.Delay(250))
        {
            logged = Directory.Exists("logs") && Directory.EnumerateFiles("logs", "*.log").Where(f => File.GetLastWriteTimeUtc(f) >= started).Any(f =>
                ReadShared(f).Contains("experiment deact: TrainSelector (round 1) stopped by deactivation", StringComparison.Ordinal));
        }
        Assert.True(logged, "no silo log says the deactivated activation stopped its step");
    }

    private static string ReadShared(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return new StreamReader(s).ReadToEnd();
    }

    [Fact]
    public async Task Scoring_selector_and_fusion_run_on_the_gpu_silo()
    {
        Assert.Equal(2, fx.Cluster.Silos.Count);
        Assert.NotEqual(fx.GpuSilo, fx.CpuSilo);
        await fx.Client.GetGrain<ICoordinatorGrain>("placed").Start(ClusterFixture.SmallSpec(seed: 3) with { Rounds = 2, FinalEpochs = 1 });
        var done = await fx.WaitAsync("placed");
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        Assert.All(done.Rounds, r =>
        {
            Assert.Equal([fx.GpuSilo], r.ScoredOn);
            Assert.Equal(fx.GpuSilo, r.SelectorSilo);
        });
        Assert.Equal(fx.GpuSilo, done.Final!.Silo);
    }

    [Theory]
    [InlineData("dense")]
    [InlineData("proxy")]
    [InlineData("random")]
    [InlineData("no-fusion")]
    [InlineData("kd")]
    [InlineData("kd-decay")]
    public async Task Every_selector_kind_completes(string kind)
    {
        var spec = ClusterFixture.SmallSpec(seed: 4) with { Rounds = 1, FinalEpochs = 1, SelectorEpochs = 1 };
        spec = kind switch
        {
            "dense" => spec with { Selector = SelectorKind.Dense },
            "proxy" => spec with { Selector = SelectorKind.Proxy, Arch = "resnet14", ProxyArch = "resnet8" },
            "random" => spec with { Selector = SelectorKind.Random },
            // Distillation is off by default: this drives the fused network's training with the selector as teacher.
            "kd" => spec with { DistillationAlpha = 0.5, DistillationTemperature = 4 },
            "kd-decay" => spec with { DistillationAlpha = 0.5, DistillationTemperature = 4, DistillationDecay = 1.0 / 3, FinalEpochs = 3 },
            _ => spec with { Fusion = false, DistillationAlpha = 0 },
        };
        var id = "kind-" + kind;
        await fx.Client.GetGrain<ICoordinatorGrain>(id).Start(spec);
        var done = await fx.WaitAsync(id);
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        Assert.Equal(350, done.Rounds.Single().Labeled);
        Assert.Equal(kind != "random", done.Rounds[0].SelectorAccuracy.HasValue);
        Assert.Equal(kind is not ("dense" or "proxy" or "random" or "no-fusion"), done.Final!.Fused);
        var selection = JsonSerializer.Deserialize<SampleScore[]>(await Store.ReadBytesAsync(ArtifactLayout.Selection(id, 1)), ArtifactJson.Options)!;
        Assert.Equal(150, selection.Select(s => s.SampleId).Distinct().Count());
    }

    [Theory]
    [InlineData("warm", 1)]
    [InlineData("last-round", 0)]
    public async Task Warm_started_selectors_start_from_the_previous_round_s_checkpoint_and_the_fusion_source_follows_the_spec(string source, int finalEpochs)
    {
        var spec = ClusterFixture.SmallSpec(seed: 12) with
        {
            SelectorWarmStart = true, WarmEpochs = 1, FusionSource = ContractNames.Parse<FusionSource>(source), FinalEpochs = 1,
        };
        var id = "warm-" + source;
        await fx.Client.GetGrain<ICoordinatorGrain>(id).Start(spec);
        var done = await fx.WaitAsync(id);
        Assert.True(done.State == ExperimentState.Completed, done.Error);
        // Round 1 from the θ0 slice for the selector epochs; round 2 from round 1's stored selector for the warm
        // epochs.
        Assert.Equal((spec.SelectorEpochs, (string?)null), (done.Rounds[0].SelectorEpochs, done.Rounds[0].SelectorStartedFrom));
        Assert.Equal((1, ArtifactLayout.Selector(id, 1)), (done.Rounds[1].SelectorEpochs, done.Rounds[1].SelectorStartedFrom));
        Assert.Equal(finalEpochs, done.FinalSelectorEpochs);
        if (finalEpochs == 0)
        {
            // last-round: round 2's selector is fused as it is, at no cost.
            Assert.Equal((0.0, (string?)null), (done.FinalSelectorSeconds, done.FinalSelectorStartedFrom));
            Assert.Equal(done.Rounds[1].SelectorAccuracy, done.FinalSelectorAccuracy);
            Assert.Null(await Store.GetInfoAsync(ArtifactLayout.Selector(id, 3)));
        }
        else
        {
            Assert.Equal(ArtifactLayout.Selector(id, 2), done.FinalSelectorStartedFrom);
            Assert.True(done.FinalSelectorSeconds > 0);
            Assert.NotNull(await Store.GetInfoAsync(ArtifactLayout.Selector(id, 3)));
        }
        Assert.True(done.Final!.Fused);
    }

    [Theory]
    [InlineData("p", "prune ratio p must be in [0, 1), got 1")]
    [InlineData("budget", "budget 3200")]
    [InlineData("arch", "unknown architecture 'resnet9'; supported: resnet8, resnet14")]
    [InlineData("stem", "resnet20 has no stem 'imagenet'; it takes small")]
    [InlineData("small-input", "vgg16_bn cannot take 28×28 inputs: maxpool layer")]
    [InlineData("dropout", "resnet8 has no dropout option")]
    [InlineData("metric", "unknown selection metric '42'")]
    [InlineData("dataset", "unknown dataset 'nope'")]
    public async Task Invalid_specs_are_refused_and_nothing_is_stored(string what, string expected)
    {
        var spec = ClusterFixture.SmallSpec();
        spec = what switch
        {
            "p" => spec with { PruneRatio = 1.0 },
            "budget" => spec with { InitialLabeled = 200, RoundSize = 1000, Rounds = 3 },
            "arch" => spec with { Arch = "resnet9" },
            "stem" => spec with { Arch = "resnet20", Stem = "imagenet" },
            "small-input" => spec with { Arch = "vgg16_bn", Stem = "small" },
            "dropout" => spec with { Dropout = 0.3 },
            "metric" => spec with { Metric = (Metric)42 },
            _ => spec with { DatasetId = "nope" },
        };
        var id = "bad-" + what;
        var e = await Assert.ThrowsAsync<ArgumentException>(() => fx.Client.GetGrain<ICoordinatorGrain>(id).Start(spec));
        Assert.Contains(expected, e.Message);
        Assert.Equal(ExperimentState.None, (await fx.Client.GetGrain<ICoordinatorGrain>(id).GetStatus()).State);
        Assert.Null(await Store.GetInfoAsync(ArtifactLayout.Spec(id)));
    }

    [Fact]
    public async Task Corrupted_shard_fails_the_experiment_with_a_named_error_and_keeps_its_state()
    {
        await fx.Client.GetGrain<IDatasetGrain>("corrupt").ImportFashionMnist("", 2, 1000);
        var shardFile = Path.Combine(fx.DataRoot, "artifacts", ArtifactLayout.PoolShard("corrupt", 1));
        var bytes = await File.ReadAllBytesAsync(shardFile);
        bytes[^100] ^= 0xFF;
        await File.WriteAllBytesAsync(shardFile, bytes);
        var spec = ClusterFixture.SmallSpec() with { DatasetId = "corrupt", InitialLabeled = 100, RoundSize = 50, Rounds = 1 };
        await fx.Client.GetGrain<ICoordinatorGrain>("corrupt-run").Start(spec);
        var done = await fx.WaitAsync("corrupt-run");
        Assert.Equal(ExperimentState.Failed, done.State);
        Assert.Contains("datasets/corrupt/shards/shard-0001.pfs", done.Error);
        Assert.Contains("checksum", done.Error);
        // Nothing is lost: the spec, the setup artifacts and the failure itself are stored.
        var again = await fx.Client.GetGrain<ICoordinatorGrain>("corrupt-run").GetStatus();
        Assert.Equal(spec, again.Spec);
        Assert.Equal(done.Error, again.Error);
        Assert.NotNull(await Store.GetInfoAsync(ArtifactLayout.Theta0("corrupt-run")));
        Assert.NotNull(await Store.GetInfoAsync(ArtifactLayout.Labeled("corrupt-run", 1)));
    }

    [Fact]
    public async Task Re_import_is_a_no_op_and_a_different_shape_is_refused()
    {
        var again = await fx.Client.GetGrain<IDatasetGrain>(ClusterFixture.Dataset).ImportFashionMnist("", 3, 3000);
        Assert.Equal(3000, again.PoolSize);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => fx.Client.GetGrain<IDatasetGrain>(ClusterFixture.Dataset).ImportFashionMnist("", 3, 0));
        Assert.Contains("already exists with 3000 pool samples in 3 shards", e.Message);
    }

    [Fact]
    public async Task Hostile_ids_are_refused()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => fx.Client.GetGrain<ICoordinatorGrain>("../x").Start(ClusterFixture.SmallSpec()));
        Assert.Contains("experiment id '../x'", e.Message);
        var d = await Assert.ThrowsAsync<ArgumentException>(() => fx.Client.GetGrain<IDatasetGrain>("a/b").Describe());
        Assert.Contains("dataset id 'a/b'", d.Message);
    }

    [Fact]
    public async Task Cancel_stops_a_running_experiment_and_is_kept()
    {
        var grain = fx.Client.GetGrain<ICoordinatorGrain>("to-cancel");
        await grain.Start(ClusterFixture.SmallSpec(seed: 21) with { Rounds = 3, SelectorEpochs = 6 });
        var cancelled = await grain.Cancel();
        Assert.Equal(ExperimentState.Cancelled, cancelled.State);
        var after = await fx.WaitAsync("to-cancel");
        Assert.Equal(ExperimentState.Cancelled, after.State);
        await Task.Delay(2000);
        var later = await grain.GetStatus();
        Assert.Equal(ExperimentState.Cancelled, later.State);
        Assert.True(later.Rounds.Length < 3, "a cancelled experiment does not run all its rounds");
        Assert.Null(later.Final);
        var again = await Assert.ThrowsAsync<InvalidOperationException>(() => grain.Cancel());
        Assert.Contains("is cancelled, not running", again.Message);
    }

    [Fact]
    public async Task Unknown_experiment_reports_none_and_cannot_be_cancelled()
    {
        var grain = fx.Client.GetGrain<ICoordinatorGrain>("never-started");
        Assert.Equal(ExperimentState.None, (await grain.GetStatus()).State);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => grain.Cancel());
        Assert.Contains("unknown experiment 'never-started'", e.Message);
    }

    [Fact]
    public async Task Restarting_with_a_different_spec_is_refused()
    {
        var grain = fx.Client.GetGrain<ICoordinatorGrain>("twice");
        await grain.Start(ClusterFixture.SmallSpec() with { Rounds = 1, FinalEpochs = 1 });
        var again = await grain.Start(ClusterFixture.SmallSpec() with { Rounds = 1, FinalEpochs = 1 });
        Assert.NotEqual(ExperimentState.None, again.State);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => grain.Start(ClusterFixture.SmallSpec() with { Rounds = 2 }));
        Assert.Contains("already exists with a different spec", e.Message);
        await fx.WaitAsync("twice");
    }
}

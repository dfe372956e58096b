using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Training;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

/// <summary>
/// On an AMD EPYC (Zen 4) host libtorch's oneDNN backward pass of a fresh pruned network read never-written memory
/// and produced NaN gradients in about one network in five; with oneDNN off there (see <see
/// cref="ConvolutionAccuracyTests"/>) it never did.
/// </summary>
public sealed class FirstBackwardTests
{
    [Fact]
    public void First_backward_passes_of_fresh_networks_give_finite_gradients()
    {
        var train = TestData.Train.Take(64);
        var prep = new BatchPreparer(TestData.Norm);
        using var labels = tensor(train.Labels.Select(l => (long)l).ToArray());
        var broken = new List<string>();
        // Several fresh networks: without the fix about one in five came out NaN, so eight fail together rarely.
        for (var seed = 0; seed < 8; seed++)
        {
            using var theta0 = Network.Create(NetworkSpec.Dense("resnet20", 1, 10), 21 + seed);
            using var model = ChannelPruner.Extract(theta0, ChannelPruner.Plan(theta0, seed % 2 == 0 ? 0.5 : 0.7, PruningMethod.L2));
            model.train();
            using var scope = NewDisposeScope();
            var x = prep.Augment(tensor(train.Pixels, dtype: ScalarType.Byte).reshape(64, 1, 28, 28), 4, true, SeededRandom.For(seed, "first-backward"));
            nn.functional.cross_entropy(model.forward(x), labels).backward();
            var nan = model.named_parameters().Where(p => p.parameter.grad is { } g && !g.isfinite().all().item<bool>()).Select(p => p.name).ToList();
            if (nan.Count > 0) broken.Add($"network {seed}: {nan.Count} non-finite gradients, first {nan[0]}");
        }
        Assert.True(broken.Count == 0, string.Join("; ", broken));
    }
}

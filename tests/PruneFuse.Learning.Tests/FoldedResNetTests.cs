using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Scoring;
using PruneFuse.Learning.Training;

namespace PruneFuse.Learning.Tests;

/// <summary>The BN-folded network used for scoring.</summary>
public class FoldedResNetTests
{
    [Fact]
    public void Folded_network_gives_the_eval_mode_logits_of_a_trained_network()
    {
        using var theta0 = Network.Create(NetworkSpec.Dense("resnet20", 1, 10), 3);
        var plan = ChannelPruner.Plan(theta0, 0.5, PruningMethod.L2);
        using var selector = ChannelPruner.Extract(theta0, plan);
        // Training moves BN statistics and affine parameters away from the identity, so the fold is really exercised.
        Trainer.Train(selector, TestData.Train.Take(512), new TrainingOptions { Epochs = 1, BatchSize = 64 }, TestData.Norm);
        foreach (var model in new[] { selector, theta0 })
        {
            var images = TestData.Test.Take(128);
            var expected = Evaluator.Logits(model, images, TestData.Norm);
            model.eval();
            using var folded = new FoldedNetwork(model);
            using var noGrad = TorchSharp.torch.no_grad();
            var x = new BatchPreparer(TestData.Norm).Prepare(images.Pixels, images.Count, 1, 28, 28);
            var actual = folded.Forward(x).data<float>().ToArray();
            var maxDiff = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(maxDiff <= 1e-4, $"{model.Spec}: max |Δlogit| = {maxDiff}");
        }
    }
}

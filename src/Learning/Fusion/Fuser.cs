using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Fusion;

/// <summary>
/// Index-faithful fusion (docs/architecture.md, "Fusion"): the trained selector's values are written into the kept
/// positions of a
/// dense background (θ0 in PruneFuse); every other entry keeps the background's value.
/// </summary>
public static class Fuser
{
    /// <summary>
    /// Returns a new dense network: <paramref name="background"/> with every tensor's kept block (output channels ×
    /// input channels for convs, kept channels for BN vectors, kept feature columns of the classifier, the classifier
    /// bias whole) replaced by <paramref name="selector"/>'s values. BN batch counters keep the background's value.
    /// </summary>
    public static Network Fuse(Network background, Network selector, ChannelPlan plan)
    {
        if (!background.Spec.SameShapeAs(plan.Dense))
        {
            throw new ArgumentException($"fusion background is {background.Spec}, channel plan is for {plan.Dense}");
        }
        if (!selector.Spec.SameShapeAs(plan.Pruned))
        {
            throw new ArgumentException($"selector is {selector.Spec}, channel plan's pruned network is {plan.Pruned}");
        }
        var fused = new Network(plan.Dense);
        var bg = background.state_dict();
        var sel = selector.state_dict();
        var dst = fused.state_dict();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var t in fused.Description.Tensors)
        {
            var target = dst[t.Name];
            target.copy_(bg[t.Name]);
            if (t.Kind == TensorKind.BatchNormCounter) continue;
            var values = sel[t.Name].detach().to(target.device);
            var outIdx = t.OutGroup is null ? null : tensor(plan.KeptIndices(t.OutGroup), device: target.device);
            var inIdx = t.InGroup is null ? null : tensor(plan.KeptIndices(t.InGroup, t.InRepeat), device: target.device);
            switch (outIdx, inIdx)
            {
                case (null, null):
                    target.copy_(values);
                    break;
                case (not null, null):
                    target.index_copy_(0, outIdx, values);
                    break;
                case (null, not null):
                    target.index_copy_(1, inIdx, values);
                    break;
                default:
                    // Rows of the kept outputs, with the kept input columns overwritten, written back.
                    var rows = target.index_select(0, outIdx!);
                    rows.index_copy_(1, inIdx!, values);
                    target.index_copy_(0, outIdx!, rows);
                    break;
            }
        }
        return fused;
    }

}

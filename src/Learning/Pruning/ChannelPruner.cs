using PruneFuse.Learning.Models;
using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Pruning;

/// <summary>
/// Structured channel pruning at initialization (docs/architecture.md, "Pruning at initialization"): computes a <see
/// cref="ChannelPlan"/> from θ0
/// and slices θ0 into the pruned network.
/// </summary>
public static class ChannelPruner
{
    /// <summary>
    /// Plans which channels to keep. L2: importance of a channel is the L2 norm of all θ0 weights that produce it
    /// within its group: every convolution (depthwise ones included) and fully connected layer whose output is in
    /// the group (for a coupled residual group of a ResNet: the stem, every block's last convolution and the
    /// projection shortcut of that stage). BN γ/β are identical for every channel at initialization, so they do not
    /// change the order and are left out. Ties go to the lower index. Random: a seeded choice per group.
    /// </summary>
    public static ChannelPlan Plan(Network dense, double ratio, PruningMethod method, long seed = 0)
    {
        ChannelPlan.ValidateRatio(ratio);
        var spec = dense.Spec;
        var groups = dense.Description.Groups;
        var importance = method == PruningMethod.L2 ? ComputeL2Importance(dense) : null;
        var plan = new List<ChannelGroup>();
        foreach (var (name, width, _) in groups)
        {
            var keep = ChannelPlan.KeepCount(width, ratio);
            int[] kept;
            if (method == PruningMethod.L2)
            {
                var imp = importance![name];
                kept = Enumerable.Range(0, width).OrderByDescending(c => imp[c]).ThenBy(c => c).Take(keep).Order().ToArray();
            }
            else
            {
                var rng = SeededRandom.For(seed, "random-channels:" + name);
                kept = rng.Permutation(width).Take(keep).Order().ToArray();
            }
            plan.Add(new ChannelGroup(name, width, kept));
        }
        return new ChannelPlan { Dense = spec, Ratio = ratio, Method = method, Groups = [.. plan] };
    }

    /// <summary>Per-group channel importance (L2 norm of producing conv weights), keyed by group name.</summary>
    public static Dictionary<string, double[]> ComputeL2Importance(Network dense)
    {
        var state = dense.state_dict();
        var sumSquares = dense.Description.Groups.ToDictionary(g => g.Name, g => new double[g.Width]);
        using var scope = NewDisposeScope();
        foreach (var t in dense.Description.Tensors.Where(t => t.Kind is TensorKind.ConvWeight or TensorKind.LinearWeight && t.OutGroup is not null))
        {
            var w = state[t.Name].detach().cpu().to_type(ScalarType.Float64);
            var perChannel = w.pow(2).flatten(1).sum(1).data<double>().ToArray();
            var acc = sumSquares[t.OutGroup!];
            for (var c = 0; c < perChannel.Length; c++) acc[c] += perChannel[c];
        }
        return sumSquares.ToDictionary(kv => kv.Key, kv => kv.Value.Select(Math.Sqrt).ToArray());
    }

    /// <summary>Builds the pruned network whose every tensor is the kept slice of <paramref name="dense"/>'s.</summary>
    public static Network Extract(Network dense, ChannelPlan plan)
    {
        if (!dense.Spec.SameShapeAs(plan.Dense))
        {
            throw new ArgumentException($"channel plan is for {plan.Dense}, network is {dense.Spec}");
        }
        var pruned = new Network(plan.Pruned);
        var src = dense.state_dict();
        var dst = pruned.state_dict();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var t in dense.Description.Tensors)
        {
            var v = src[t.Name].detach().cpu();
            if (t.OutGroup is not null) v = v.index_select(0, tensor(plan.KeptIndices(t.OutGroup)));
            if (t.InGroup is not null) v = v.index_select(1, tensor(plan.KeptIndices(t.InGroup, t.InRepeat)));
            dst[t.Name].copy_(v);
        }
        return pruned;
    }
}

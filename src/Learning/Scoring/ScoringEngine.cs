namespace PruneFuse.Learning.Scoring;

/// <summary>What runs pool scoring on a silo (setting <c>PruneFuse:Scoring:Engine</c>).</summary>
public enum ScoringEngine
{
    /// <summary>ONNX Runtime over the exported network (default: faster on the CPUs measured, see BENCHMARKS.md).</summary>
    Onnx,
    /// <summary>TorchSharp/libtorch over the BN-folded network, as training runs.</summary>
    Torch,
}

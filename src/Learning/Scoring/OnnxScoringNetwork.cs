using Microsoft.ML.OnnxRuntime;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Models;
using PruneFuse.Learning.Onnx;

namespace PruneFuse.Learning.Scoring;

/// <summary>
/// How an ONNX session uses its CPU threads and graph rewrites. The defaults are the fastest measured here; the other
/// settings exist so the bench can show why (BENCHMARKS.md, *Scoring engines*).
/// </summary>
/// <param name="BatchPerThread">Each thread runs its own batch through a single-threaded call (default), or one call
/// at a time splits every op over all threads.</param>
/// <param name="LayoutRewrite">ORT_ENABLE_ALL, including the NCHWc layout rewrite (default), or
/// ORT_ENABLE_EXTENDED.</param>
public sealed record OnnxTuning(bool BatchPerThread = true, bool LayoutRewrite = true)
{
    /// <summary>The defaults.</summary>
    public static OnnxTuning Default { get; } = new();
}

/// <summary>Where an ONNX Runtime session runs.</summary>
public enum OnnxDevice
{
    /// <summary>The CPU execution provider.</summary>
    Cpu,
    /// <summary>The CUDA execution provider (GPU builds, <c>-p:OnnxBackend=cuda</c>); fails when it cannot
    /// start.</summary>
    Cuda,
    /// <summary>CUDA when the build has its provider and a GPU answers, else CPU (with the reason in <see
    /// cref="OnnxScoringNetwork.FallbackReason"/>).</summary>
    Auto,
}

/// <summary>
/// Scores with one ONNX Runtime session over the graph <see cref="OnnxExport"/> writes (normalisation inside, so the
/// pool's uint8 bytes go in as stored). ONNX Runtime sessions run calls from several threads at once; the pool
/// scorer keeps <see cref="ConcurrentBatches"/> batches in flight.
/// </summary>
public sealed class OnnxScoringNetwork : IScoringNetwork
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();

    /// <summary>Engine name: "onnx-cpu" or "onnx-cuda".</summary>
    public string Engine { get; }

    /// <inheritdoc />
    public int ConcurrentBatches { get; }

    /// <summary>Why <see cref="OnnxDevice.Auto"/> ran on CPU (null when it did not fall back).</summary>
    public string? FallbackReason { get; }

    /// <summary>
    /// Opens a session over serialized ONNX bytes. Bytes that are not a model this engine can run raise a
    /// <see cref="DataFormatException"/> naming <paramref name="source"/>.
    /// </summary>
    /// <param name="onnx">The serialized model.</param>
    /// <param name="source">What the bytes are (a file or checkpoint name), for errors.</param>
    /// <param name="threads">
    /// Compute threads (the silo's compute budget; 0 = one per core). On CPU each runs its own batches through a
    /// single-threaded session call: for these small convolutions that beat splitting every op over the threads
    /// (BENCHMARKS.md, *Scoring engines*). On CUDA one call at a
    /// time uses them all.
    /// </param>
    /// <param name="device">Execution provider.</param>
    /// <param name="tuning">CPU thread use and graph rewrites (bench only; default: the fastest).</param>
    public OnnxScoringNetwork(byte[] onnx, string source, int threads = 0, OnnxDevice device = OnnxDevice.Cpu, OnnxTuning? tuning = null)
    {
        tuning ??= OnnxTuning.Default;
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        Engine = "onnx-cpu";
        if (threads == 0) threads = Environment.ProcessorCount;
        ConcurrentBatches = tuning.BatchPerThread ? threads : 1;
        InferenceSession? session = null;
        using var cpuOptions = Options(threads / ConcurrentBatches, tuning.LayoutRewrite);
        if (device != OnnxDevice.Cpu)
        {
            using var cudaOptions = Options(threads, tuning.LayoutRewrite);
            var problem = CudaProblem(cudaOptions);
            if (problem is null)
            {
                try
                {
                    session = new InferenceSession(onnx, cudaOptions);
                    Engine = "onnx-cuda";
                    ConcurrentBatches = 1;
                }
                catch (OnnxRuntimeException e)
                {
                    // A model the CPU provider cannot read either is a format problem, reported below.
                    problem = $"the CUDA execution provider did not start a session: {e.Message}";
                }
            }
            if (problem is not null && device == OnnxDevice.Cuda && Opens(onnx, cpuOptions))
            {
                throw new InvalidOperationException($"ONNX Runtime cannot score on CUDA here: {problem}");
            }
            FallbackReason = problem;
        }
        try
        {
            _session = session ?? new InferenceSession(onnx, cpuOptions);
        }
        catch (OnnxRuntimeException e)
        {
            throw new DataFormatException(source, $"not an ONNX model this engine can run: {e.Message}", e);
        }
        foreach (var name in new[] { OnnxExport.Logits, OnnxExport.Features, OnnxExport.Predicted })
        {
            if (!_session.OutputMetadata.ContainsKey(name))
            {
                _session.Dispose();
                throw new DataFormatException(source, $"an ONNX model without the '{name}' output PruneFuse's export writes");
            }
        }
    }

    /// <summary>
    /// Exports <paramref name="model"/>'s current weights and opens a session over them. <paramref name="inputSize"/>
    /// (the images' height and width) is needed only by networks with an adaptive pool (VGG's ImageNet stem).
    /// </summary>
    public static OnnxScoringNetwork FromModel(Network model, ImageNormalization normalization, string source, int threads = 0,
        OnnxDevice device = OnnxDevice.Cpu, OnnxTuning? tuning = null, (int Height, int Width)? inputSize = null) =>
        new(OnnxExport.Build(model, normalization, inputSize: inputSize), source, threads, device, tuning);

    private static SessionOptions Options(int threads, bool layoutRewrite) => new()
    {
        IntraOpNumThreads = threads,
        InterOpNumThreads = 1,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        // ALL includes the NCHWc layout rewrite: about twice the rate of EXTENDED on this AVX-512 host (BENCHMARKS.md).
        GraphOptimizationLevel = layoutRewrite ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    };

    private static bool Opens(byte[] onnx, SessionOptions options)
    {
        try
        {
            using var s = new InferenceSession(onnx, options);
            return true;
        }
        catch (OnnxRuntimeException)
        {
            return false;
        }
    }

    /// <summary>
    /// Null when this build's ONNX Runtime can add the CUDA execution provider; else one sentence saying why not
    /// (a CPU build, no GPU, or the CUDA 13 runtime / cuDNN 9 missing).
    /// </summary>
    public static string? CudaUnavailableReason()
    {
        using var options = new SessionOptions();
        return CudaProblem(options);
    }

    /// <summary>Null when the CUDA execution provider was added to <paramref name="options"/>; else why not.</summary>
    private static string? CudaProblem(SessionOptions options)
    {
        var providers = OrtEnv.Instance().GetAvailableProviders();
        if (!providers.Contains("CUDAExecutionProvider"))
        {
            return $"this build's ONNX Runtime has no CUDA execution provider (it has {string.Join(", ", providers)}; GPU images build with -p:OnnxBackend=cuda)";
        }
        // ONNX Runtime would also print its own multi-line error for a missing library; the reason is returned.
        var env = OrtEnv.Instance();
        var level = env.EnvLogLevel;
        env.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
        try
        {
            options.AppendExecutionProvider_CUDA(0);
            return null;
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            // The 1.31.0 provider links libcudart.so.13, libcublas(Lt).so.13 and libcurand.so.10 (readelf -d).
            return $"the CUDA execution provider did not start (no GPU, or the CUDA 13 runtime libraries and cuDNN 9 are not installed): {e.Message}";
        }
        finally
        {
            env.EnvLogLevel = level;
        }
    }

    private IDisposableReadOnlyCollection<OrtValue> Run(byte[] pixels, int count, int channels, int height, int width, params string[] outputs)
    {
        var expected = (long)count * channels * height * width;
        if (pixels.LongLength < expected) throw new ArgumentException($"{count} images of {channels}×{height}×{width} need {expected} bytes, got {pixels.LongLength}");
        var data = pixels.LongLength == expected ? pixels : pixels[..(int)expected];
        using var input = OrtValue.CreateTensorValueFromMemory(data, [count, channels, height, width]);
        return _session.Run(_run, [OnnxExport.Images], [input], outputs);
    }

    /// <inheritdoc />
    public (double[] Scores, long[] Predicted) Score(byte[] pixels, int count, int channels, int height, int width, SelectionMetric metric)
    {
        using var results = Run(pixels, count, channels, height, width, OnnxExport.ScoreOutput(metric), OnnxExport.Predicted);
        return (results[0].GetTensorDataAsSpan<double>().ToArray(), results[1].GetTensorDataAsSpan<long>().ToArray());
    }

    /// <inheritdoc />
    public float[] Features(byte[] pixels, int count, int channels, int height, int width, out int dimension)
    {
        using var results = Run(pixels, count, channels, height, width, OnnxExport.Features);
        dimension = (int)results[0].GetTensorTypeAndShape().Shape[1];
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <inheritdoc />
    public float[] Logits(byte[] pixels, int count, int channels, int height, int width, out int classes)
    {
        using var results = Run(pixels, count, channels, height, width, OnnxExport.Logits);
        classes = (int)results[0].GetTensorTypeAndShape().Shape[1];
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _session.Dispose();
        _run.Dispose();
    }
}

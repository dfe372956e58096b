using System.Diagnostics;
using System.Text.Json.Nodes;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Export;
using PruneFuse.Learning.Models;

namespace PruneFuse.Bench;

/// <summary>
/// PyTorch's own rates for the same network on the same images, from Debian's python3-torch
/// (<c>bench/python/torch_rates.py</c>, which rebuilds the exported network with
/// <c>tools/python/prunefuse_model.py</c>):
/// the figure each engine is compared with.
/// </summary>
internal static class PyTorchReference
{
    private const string Python = "/usr/bin/python3";

    /// <summary>Where the reference runs, for the log.</summary>
    public static string Describe() => $"PyTorch ({Python}, bench/python/torch_rates.py)";

    /// <summary>Measures <paramref name="model"/> in PyTorch; a missing PyTorch is a usage error naming the
    /// package.</summary>
    public static JsonObject Measure(Network model, ImageSet images, ImageNormalization normalization,
        int[] batchSizes, int trainSamples, int trainBatch,
        int repeats, int threads)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "python", "torch_rates.py");
        if (!File.Exists(script))
        {
            throw new InvalidOperationException($"{script} is missing from the bench's output folder");
        }
        var dir = Directory.CreateTempSubdirectory("prunefuse-torch-rates-").FullName;
        try
        {
            const string weights = "model.safetensors";
            File.WriteAllBytes(Path.Combine(dir, weights), ModelExport.Weights(model, ModelFormat.Safetensors));
            var description = Path.Combine(dir, "model.json");
            File.WriteAllText(description, ModelExport.Describe(model.Spec, normalization, weights,
                ModelFormat.Safetensors));
            var pixels = Path.Combine(dir, "images.u8");
            File.WriteAllBytes(pixels, images.Pixels);
            var psi = new ProcessStartInfo(Python)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var arg in new[]
            {
                script, description, pixels, images.Count.ToString(), images.Height.ToString(),
                    images.Width.ToString(), string.Join(",", batchSizes),
                trainSamples.ToString(), trainBatch.ToString(), repeats.ToString(), threads.ToString(),
            })
            {
                psi.ArgumentList.Add(arg);
            }
            using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {Python}");
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                var why = stderr.Result.Contains("No module named 'torch'", StringComparison.Ordinal)
                    ? "Debian's python3-torch is not installed (apt-get install python3-torch)" : stderr.Result.Trim();
                throw new BenchUsageException($"--pytorch: {Python} {script} failed (exit {p.ExitCode}): {why}");
            }
            return JsonNode.Parse(stdout.Trim().Split('\n')[^1])!.AsObject();
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}

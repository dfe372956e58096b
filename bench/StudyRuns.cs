using System.Text.Json;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Bench;

/// <summary>One finished study experiment as recorded in the runs file: which method and seed, how long it took, its whole status.</summary>
internal sealed record StudyRun(string Method, long Seed, double WallSeconds, ExperimentStatus Status);

/// <summary>
/// The study's runs file (JSON lines, one finished experiment per line). It lets a multi-hour study resume after an
/// interruption and be run in slices; the report is always computed from the recorded runs.
/// </summary>
internal sealed class StudyRuns
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    private readonly List<StudyRun> _runs;

    private StudyRuns(List<StudyRun> runs) => _runs = runs;

    /// <summary>Reads the runs file if it exists. A line that does not parse (a write cut off by a kill) is reported and ignored.</summary>
    public static StudyRuns Load(string path, Action<string> log)
    {
        var runs = new List<StudyRun>();
        if (!File.Exists(path)) return new StudyRuns(runs);
        var n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (line.Length == 0) continue;
            try
            {
                var run = JsonSerializer.Deserialize<StudyRun>(line, Json);
                if (run?.Status.Spec is null || run.Status.Final is null) throw new JsonException("no spec or final result");
                runs.Add(run);
            }
            catch (JsonException e)
            {
                log($"  {path} line {n} ignored (it will be re-run): {e.Message}");
            }
        }
        return new StudyRuns(runs);
    }

    /// <summary>
    /// The last recorded run of this method and seed, only if it ran this spec: exactly, apart from the fusion and
    /// distillation settings when the selector is not pruned (the coordinator never reads them then, so a dense-AL
    /// run recorded while another fusion source was the default is the same experiment).
    /// </summary>
    public StudyRun? Find(string method, long seed, ExperimentSpec spec)
    {
        var want = JsonSerializer.Serialize(Effective(spec), Json);
        return _runs.LastOrDefault(r => r.Method == method && r.Seed == seed && r.Status.Spec is { } s && JsonSerializer.Serialize(Effective(s), Json) == want);
    }

    private static ExperimentSpec Effective(ExperimentSpec s) => s.Selector == SelectorKind.Pruned ? s
        : s with { FusionSource = FusionSource.Retrain, DistillationAlpha = 0, DistillationDecay = 0 };

    /// <summary>Appends one run as a single line and flushes it to disk before the study moves on.</summary>
    public static void Append(string path, StudyRun run)
    {
        var line = JsonSerializer.Serialize(run, Json) + "\n";
        // A partial line left by a kill must not swallow this record.
        if (File.Exists(path) && new FileInfo(path).Length > 0)
        {
            using var r = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            r.Seek(-1, SeekOrigin.End);
            if (r.ReadByte() != '\n') line = "\n" + line;
        }
        using var f = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        f.Write(System.Text.Encoding.UTF8.GetBytes(line));
        f.Flush(flushToDisk: true);
    }
}

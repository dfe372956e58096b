using PruneFuse.Grains.Interfaces;
using PruneFuse.Learning.Data.Import;

namespace PruneFuse.Grains.Datasets;

/// <summary>
/// The import source a silo has listed, kept while its shards are decoded, so each silo lists a source once per
/// import rather than once per shard. Holds one import at a time; a different import replaces it.
/// </summary>
public sealed class ImportSourceCache : IDisposable
{
    private readonly object _gate = new();
    private (string Fingerprint, Lazy<ImportPlan> Plan)? _current;

    /// <summary>The import's fingerprint: every field that changes what is stored.</summary>
    public static string Fingerprint(DatasetImportRequest request)
        => System.Text.Json.JsonSerializer.Serialize(request with { DryRun = false });

    /// <summary>The listed sources of <paramref name="request"/>, listing them on first use.</summary>
    public ImportPlan Get(DatasetImportRequest request)
    {
        var fingerprint = Fingerprint(request);
        Lazy<ImportPlan> plan;
        lock (_gate)
        {
            if (_current is not { } c || c.Fingerprint != fingerprint)
            {
                Release();
                _current = (fingerprint, new Lazy<ImportPlan>(() => Open(request),
                    LazyThreadSafetyMode.ExecutionAndPublication));
            }
            plan = _current.Value.Plan;
        }
        try
        {
            return plan.Value;
        }
        catch
        {
            // A listing that failed (a missing folder) is tried again next time, not remembered.
            lock (_gate)
            {
                if (_current is { } c && ReferenceEquals(c.Plan, plan)) _current = null;
            }
            throw;
        }
    }

    /// <summary>Forgets the import (when it is committed or refused), closing its files.</summary>
    public void Forget(DatasetImportRequest request)
    {
        lock (_gate)
        {
            if (_current is { } c && c.Fingerprint == Fingerprint(request)) Release();
        }
    }

    private void Release()
    {
        if (_current is { Plan.IsValueCreated: true } c) c.Plan.Value.Dispose();
        _current = null;
    }

    private static ImportPlan Open(DatasetImportRequest request)
    {
        static string? NullIfEmpty(string s) => string.IsNullOrEmpty(s) ? null : s;
        SourceLocation At(string path, string labels) => new(path, NullIfEmpty(labels),
            NullIfEmpty(request.ClassNamesFile), NullIfEmpty(request.CifarLabels));
        return ImportPlan.Open(ImageSources.Find(request.Format), At(request.Source, request.Labels),
            string.IsNullOrEmpty(request.TestSource) ? null : At(request.TestSource, request.TestLabels),
                request.TestFraction, request.Seed);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate) Release();
    }
}

using System.Text.Json;
using Orleans.Storage;

namespace PruneFuse.Grains.Hosting;

/// <summary>
/// Grain state as JSON files under a folder: the embedded default's state that survives a silo restart. Writes are
/// atomic (temp file + rename) and checked with an ETag so a stale activation cannot overwrite newer state.
/// </summary>
public sealed class FileGrainStorage(string root) : IGrainStorage
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    private readonly string _root = Directory.CreateDirectory(root).FullName;

    private string PathOf(string stateName, GrainId grainId)
    {
        var safe = string.Concat($"{stateName}-{grainId}".Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
        return Path.Combine(_root, safe + ".json");
    }

    /// <inheritdoc />
    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathOf(stateName, grainId);
        if (!File.Exists(path))
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.RecordExists = false;
            grainState.ETag = null;
            return;
        }
        var bytes = await File.ReadAllBytesAsync(path);
        try
        {
            grainState.State = JsonSerializer.Deserialize<T>(bytes, Json) ?? Activator.CreateInstance<T>();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"grain state file {path} is corrupted: {e.Message}", e);
        }
        grainState.RecordExists = true;
        grainState.ETag = ETagOf(path);
    }

    /// <inheritdoc />
    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathOf(stateName, grainId);
        var current = File.Exists(path) ? ETagOf(path) : null;
        if (current != grainState.ETag)
        {
            throw new InconsistentStateException($"grain state {path} changed since it was read", current ?? "", grainState.ETag ?? "");
        }
        var tmp = $"{path}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllBytesAsync(tmp, JsonSerializer.SerializeToUtf8Bytes(grainState.State, Json));
        File.Move(tmp, path, overwrite: true);
        grainState.ETag = ETagOf(path);
        grainState.RecordExists = true;
    }

    /// <inheritdoc />
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        File.Delete(PathOf(stateName, grainId));
        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
        return Task.CompletedTask;
    }

    private static string ETagOf(string path)
    {
        var fi = new FileInfo(path);
        return $"{fi.Length:x}-{fi.LastWriteTimeUtc.Ticks:x}";
    }
}

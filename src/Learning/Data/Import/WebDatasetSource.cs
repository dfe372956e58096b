using System.Formats.Tar;
using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace PruneFuse.Learning.Data.Import;

/// <summary>
/// Tar shards in the WebDataset layout as an import source (format <c>webdataset</c>): one <c>.tar</c> file or a
/// folder of them (ordinal order); a sample is the members sharing a key (the member name up to the first dot of its
/// file name): <c>key.jpg</c>/<c>key.jpeg</c>/<c>key.png</c> and <c>key.cls</c> (the class index as text). Members
/// are read in place, never extracted. Names with <c>..</c> or an absolute path refuse the import; a labeled set's
/// image without a <c>.cls</c> is a bad sample (refused, or skipped with --skip-bad).
/// </summary>
public sealed class WebDatasetSource : IImageSource
{
    private static readonly string[] ImageExtensions = ["jpg", "jpeg", "png"];
    private readonly SafeFileHandle[] _files;
    private readonly string[] _paths;
    private readonly (int File, long Offset, int Length)[] _members;

    private WebDatasetSource(string location, string[] paths, SafeFileHandle[] files, List<(SourceEntry Entry, int File,
        long Offset, int Length)> samples,
        IReadOnlyList<string> classNames, int ignored)
    {
        Location = location;
        _paths = paths;
        _files = files;
        Entries = [.. samples.Select(s => s.Entry)];
        _members = [.. samples.Select(s => (s.File, s.Offset, s.Length))];
        ClassNames = classNames;
        Ignored = ignored;
    }

    /// <summary>Lists the tar file(s) at <paramref name="location"/>.</summary>
    public static IImageSource Open(SourceLocation location)
    {
        var path = location.FullPath("tar shards");
        string[] tars = File.Exists(path) ? [path]
            : Directory.Exists(path) ? [.. Directory.GetFiles(path, "*.tar").Order(StringComparer.Ordinal)]
            : throw new FileNotFoundException($"tar shards not found: {path}", path);
        if (tars.Length == 0) throw new DataFormatException(path, "holds no .tar files");
        var files = tars.Select(t => File.OpenHandle(t)).ToArray();
        try
        {
            var samples = new List<(SourceEntry, int, long, int)>();
            var labels = new List<int?>();
            var keys = new HashSet<string>(StringComparer.Ordinal);
            var ignored = 0;
            for (var f = 0; f < tars.Length; f++) ignored += List(tars[f], f, samples, labels, keys);
            if (samples.Count == 0) throw new DataFormatException(path, "holds no .jpg, .jpeg or .png members");
            var labeled = labels.Any(l => l is not null);
            var classCount = labeled ? labels.Max(l => l ?? 0) + 1 : 0;
            if (labeled && classCount < 2) throw new DataFormatException(path,
                "every .cls label is 0: a labeled set needs at least 2 classes");
            // A labeled set's member without .cls gets label −2: decoding it reports the missing label.
            for (var i = 0; i < samples.Count; i++)
            {
                var (entry, file, offset, length) = samples[i];
                samples[i] = (entry with { Label = labels[i] ?? (labeled ? -2 : -1) }, file, offset, length);
            }
            return new WebDatasetSource(path, tars, files, samples, labeled ? location.ClassNamesOr(classCount) : [],
                ignored);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    private static int List(string tar, int fileIndex, List<(SourceEntry, int, long, int)> samples, List<int?> labels,
        HashSet<string> keys)
    {
        var images = new Dictionary<string, (long Offset, int Length)>(StringComparer.Ordinal);
        var classes = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<string>();
        var ignored = 0;
        using var stream = File.OpenRead(tar);
        using var reader = new TarReader(stream);
        try
        {
            while (reader.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue;
                var name = entry.Name;
                if (entry.DataOffset + entry.Length > stream.Length)
                {
                    throw new DataFormatException(tar, $"is truncated: member '{name}' ends past the end of the file");
                }
                if (name.StartsWith('/') || name.Split('/').Contains(".."))
                {
                    throw new DataFormatException(tar,
                        $"member '{name}' has an absolute path or '..': refused, as it could name a file outside the "
                        + $"set");
                }
                var slash = name.LastIndexOf('/');
                var dot = name.IndexOf('.', slash + 1);
                if (dot < 0)
                {
                    ignored++;
                    continue;
                }
                var key = name[..dot];
                var extension = name[(dot + 1)..].ToLowerInvariant();
                if (ImageExtensions.Contains(extension))
                {
                    if (entry.Length > int.MaxValue) throw new DataFormatException(tar,
                        $"member '{name}' is {entry.Length} bytes, too large for an image");
                    if (!images.TryAdd(key, (entry.DataOffset, (int)entry.Length))) throw new DataFormatException(tar,
                        $"key '{key}' has two images");
                    order.Add(key);
                }
                else if (extension == "cls")
                {
                    using var data = new StreamReader(entry.DataStream ?? Stream.Null);
                    var text = data.ReadToEnd().Trim();
                    if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var label)
                        || label >= 100_000)
                    {
                        throw new DataFormatException(tar,
                            $"member '{name}' holds '{text}', not a class index in 0..99999");
                    }
                    classes[key] = label;
                }
                else ignored++;
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new DataFormatException(tar, $"is not a readable tar file ({e.Message})");
        }
        ignored += classes.Keys.Count(k => !images.ContainsKey(k));
        foreach (var key in order)
        {
            var qualified = $"{Path.GetFileName(tar)}:{key}";
            if (!keys.Add(qualified)) continue;
            var (offset, length) = images[key];
            samples.Add((new SourceEntry(qualified, -1), fileIndex, offset, length));
            labels.Add(classes.TryGetValue(key, out var l) ? l : null);
        }
        return ignored;
    }

    /// <inheritdoc />
    public string Format => "webdataset";

    /// <inheritdoc />
    public string Location { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames { get; }

    /// <inheritdoc />
    public IReadOnlyList<SourceEntry> Entries { get; }

    /// <inheritdoc />
    public int Ignored { get; }

    /// <inheritdoc />
    public void DecodeInto(int index, ImageImportOptions options, Span<byte> destination)
    {
        var (file, offset, length) = _members[index];
        var name = Path.Combine(Path.GetDirectoryName(_paths[file])!, Entries[index].Key);
        if (Entries[index].Label == -2) throw new DataFormatException(name, "has no .cls member: its label is missing");
        var bytes = new byte[length];
        if (RandomAccess.Read(_files[file], bytes, offset) != length) throw new DataFormatException(name,
            "is cut short: the tar file is truncated");
        ImageDecoder.DecodeBytes(bytes, name, options, destination);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}

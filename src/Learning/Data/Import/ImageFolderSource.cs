using System.Runtime.InteropServices;

namespace PruneFuse.Learning.Data.Import;

/// <summary>One image file of a folder: its path relative to the folder and its label (−1 = unlabeled).</summary>
public sealed record ImageFolderEntry(string RelativePath, int Label);

/// <summary>What a folder holds: class names (sub-folder names, ordinal order) and the image files.</summary>
/// <param name="Root">The folder.</param>
/// <param name="ClassNames">Class names by label; empty for an unlabeled folder.</param>
/// <param name="Entries">Image files in a stable order (by class, then ordinal path).</param>
/// <param name="Ignored">Files skipped because their extension is not an image's.</param>
/// <param name="SkippedLinks">Symbolic links skipped because their target was already listed (loops,
/// duplicates).</param>
public sealed record ImageFolderScan(string Root, IReadOnlyList<string> ClassNames,
    IReadOnlyList<ImageFolderEntry> Entries, int Ignored,
    int SkippedLinks = 0)
{
    /// <summary>True when images come in one sub-folder per class.</summary>
    public bool Labeled => ClassNames.Count > 0;
}

/// <summary>
/// Reads image-folder datasets: a folder with one sub-folder per class (labeled), or a folder of images with no
/// sub-folders (an unlabeled pool). PNG and JPEG, decoded with SkiaSharp.
/// </summary>
public static class ImageFolder
{
    /// <summary>File extensions read as images (case-insensitive).</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg"];

    private static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>Lists a folder's images and classes; a missing, empty or mixed folder is refused by path.</summary>
    public static ImageFolderScan Scan(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new ArgumentException("image folder path is empty");
        var root = Path.GetFullPath(directory);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"image folder not found: {root}");
        var subfolders = Directory.GetDirectories(root).Where(d
            => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal).ToArray();
        var topFiles = Directory.GetFiles(root).Where(f => !Path.GetFileName(f).StartsWith('.')).ToArray();
        var ignored = 0;
        var entries = new List<ImageFolderEntry>();
        if (subfolders.Length == 0)
        {
            foreach (var f in topFiles.Order(StringComparer.Ordinal))
            {
                if (IsImage(f)) entries.Add(new ImageFolderEntry(Path.GetFileName(f), -1));
                else ignored++;
            }
            if (entries.Count == 0) throw new DataFormatException(root,
                $"holds no PNG or JPEG images ({string.Join(", ", Extensions)})");
            return new ImageFolderScan(root, [], entries, ignored);
        }
        var strayImages = topFiles.Where(IsImage).Take(3).ToArray();
        if (strayImages.Length > 0)
        {
            throw new DataFormatException(root,
                $"mixes class sub-folders with images at its top level ({string.Join(", "
                + "", strayImages.Select(Path.GetFileName))}); " +
                "use one sub-folder per class, or a folder of images only for an unlabeled pool");
        }
        ignored += topFiles.Length;
        var classes = new List<string>();
        // Real paths already listed: a symlink loop or a second link to the same folder or file is listed once, and
        // the real name wins over a link's. Class folders are claimed first, so a link into one is the duplicate.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var skippedLinks = 0;
        var classFolders = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sub in RealNamesFirst(subfolders))
        {
            if (seen.Add(RealPath(sub))) classFolders.Add(sub);
            else skippedLinks++;
        }
        foreach (var sub in subfolders)
        {
            if (!classFolders.Contains(sub)) continue;
            var files = new List<string>();
            Walk(sub, files, seen, ref skippedLinks);
            var images = files.Where(IsImage).Select(f => Path.GetRelativePath(root,
                f)).Order(StringComparer.Ordinal).ToArray();
            ignored += files.Count - images.Length;
            if (images.Length == 0) throw new DataFormatException(sub, "class folder holds no PNG or JPEG images");
            var label = classes.Count;
            classes.Add(Path.GetFileName(sub));
            entries.AddRange(images.Select(p => new ImageFolderEntry(p, label)));
        }
        if (classes.Count < 2) throw new DataFormatException(root,
            $"a labeled image folder needs at least 2 class sub-folders, found {classes.Count} ({string.Join(", "
            + "", classes)})");
        return new ImageFolderScan(root, classes, entries, ignored, skippedLinks);
    }

    private static IEnumerable<string> RealNamesFirst(IEnumerable<string> paths) =>
        paths.Where(p => !Path.GetFileName(p).StartsWith('.')).OrderBy(p => new FileInfo(p).LinkTarget is null ? 0
            : 1).ThenBy(p => p, StringComparer.Ordinal);

    private static void Walk(string directory, List<string> files, HashSet<string> seen, ref int skippedLinks)
    {
        foreach (var f in RealNamesFirst(Directory.GetFiles(directory)))
        {
            if (seen.Add(RealPath(f))) files.Add(f);
            else skippedLinks++;
        }
        foreach (var d in RealNamesFirst(Directory.GetDirectories(directory)))
        {
            if (seen.Add(RealPath(d))) Walk(d, files, seen, ref skippedLinks);
            else skippedLinks++;
        }
    }

    // realpath(3): every link on the way resolved, so two names of one folder or file compare equal.
    private static string RealPath(string path)
    {
        var resolved = RealPathNative(System.Text.Encoding.UTF8.GetBytes(path + "\0"), IntPtr.Zero);
        if (resolved == IntPtr.Zero) return Path.GetFullPath(path); // a broken link: listed under its own name
        try
        {
            return Marshal.PtrToStringUTF8(resolved) ?? path;
        }
        finally
        {
            Marshal.FreeHGlobal(resolved);
        }
    }

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr RealPathNative(byte[] nullTerminatedPath, IntPtr resolved);
}

/// <summary>An image folder as an import source (format <c>images</c>).</summary>
public sealed class ImageFolderSource : IImageSource
{
    private readonly ImageFolderScan _scan;

    private ImageFolderSource(ImageFolderScan scan)
    {
        _scan = scan;
        Entries = [.. scan.Entries.Select(e => new SourceEntry(e.RelativePath, e.Label))];
        var notes = new List<string>();
        if (scan.SkippedLinks > 0) notes.Add($"{scan.SkippedLinks} symbolic link(s) to folders or files already "
            + $"listed skipped (loops, duplicates)");
        Notes = notes;
    }

    /// <summary>Lists the folder at <paramref name="location"/>.</summary>
    public static IImageSource Open(SourceLocation location)
        => new ImageFolderSource(ImageFolder.Scan(location.FullPath("image folder")));

    /// <inheritdoc />
    public string Format => "images";

    /// <inheritdoc />
    public string Location => _scan.Root;

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames => _scan.ClassNames;

    /// <inheritdoc />
    public IReadOnlyList<SourceEntry> Entries { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> Notes { get; }

    /// <inheritdoc />
    public int Ignored => _scan.Ignored;

    /// <inheritdoc />
    public void DecodeInto(int index, ImageImportOptions options, Span<byte> destination) =>
        ImageDecoder.DecodeFile(Path.Combine(_scan.Root, Entries[index].Key), options, destination);

    /// <inheritdoc />
    public void Dispose()
    {
    }
}

namespace PruneFuse.Learning.Data;

/// <summary>Loads Fashion-MNIST (or MNIST) from IDX files such as Debian's <c>dataset-fashion-mnist</c>.</summary>
public static class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package installs the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Class names, by label.</summary>
    public static readonly IReadOnlyList<string> ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Finds the dataset directory: the given one, <c>PRUNEFUSE_FASHION_MNIST</c>, or Debian's path.</summary>
    public static string Locate(string? directory = null)
    {
        var candidates = new[] { directory, Environment.GetEnvironmentVariable("PRUNEFUSE_FASHION_MNIST"), DebianDirectory };
        foreach (var c in candidates.Where(c => !string.IsNullOrWhiteSpace(c)))
        {
            if (File.Exists(Path.Combine(c!, "train-images-idx3-ubyte.gz")) || File.Exists(Path.Combine(c!, "train-images-idx3-ubyte")))
            {
                return c!;
            }
            if (c == directory) throw new DirectoryNotFoundException($"no Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz]) in {directory}");
        }
        throw new DirectoryNotFoundException(
            $"Fashion-MNIST not found in {DebianDirectory}. Install it with `apt-get install dataset-fashion-mnist` or pass a directory holding the IDX files.");
    }

    /// <summary>Loads the training split (ids 0..59999).</summary>
    public static ImageSet LoadTrain(string? directory = null) => Load(Locate(directory), "train", 0);

    /// <summary>Loads the test split (ids 1000000..1009999, disjoint from training ids).</summary>
    public static ImageSet LoadTest(string? directory = null) => Load(Locate(directory), "t10k", 1_000_000);

    /// <summary>Loads one split (<c>train</c> or <c>t10k</c>) with ids starting at <paramref name="firstId"/>.</summary>
    public static ImageSet Load(string directory, string split, long firstId)
    {
        var imagePath = Find(directory, $"{split}-images-idx3-ubyte");
        var labelPath = Find(directory, $"{split}-labels-idx1-ubyte");
        var images = IdxFile.Read(imagePath);
        var labels = IdxFile.Read(labelPath);
        if (images.Dimensions.Length != 3) throw new DataFormatException(imagePath, $"expected 3 dimensions (count, rows, columns), found {images.Dimensions.Length}");
        if (labels.Dimensions.Length != 1) throw new DataFormatException(labelPath, $"expected 1 dimension, found {labels.Dimensions.Length}");
        if (images.Dimensions[0] != labels.Dimensions[0])
        {
            throw new DataFormatException(imagePath, $"{images.Dimensions[0]} images but {labels.Dimensions[0]} labels");
        }
        var count = images.Dimensions[0];
        var lab = labels.Data.Select(b => (int)b).ToArray();
        var bad = Array.FindIndex(lab, l => l > 9);
        if (bad >= 0) throw new DataFormatException(labelPath, $"label {lab[bad]} at index {bad} is outside 0..9");
        var ids = Enumerable.Range(0, count).Select(i => firstId + i).ToArray();
        return new ImageSet(ids, lab, images.Data, 1, images.Dimensions[1], images.Dimensions[2]);
    }

    private static string Find(string directory, string stem)
    {
        var gz = Path.Combine(directory, stem + ".gz");
        if (File.Exists(gz)) return gz;
        var plain = Path.Combine(directory, stem);
        if (File.Exists(plain)) return plain;
        throw new FileNotFoundException($"missing {stem}[.gz] in {directory}", gz);
    }
}

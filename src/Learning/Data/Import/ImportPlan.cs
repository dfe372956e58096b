using PruneFuse.Learning.Runtime;

namespace PruneFuse.Learning.Data.Import;

/// <summary>
/// What an import will decode: the pool and test sources, listed and checked against each other, and which of their
/// samples go to the pool and to the test set (a seeded split when there is no test source).
/// </summary>
public sealed class ImportPlan : IDisposable
{
    private ImportPlan(IImageSource pool, IImageSource test, IReadOnlyList<int> poolEntries,
        IReadOnlyList<int> testEntries, IReadOnlyList<string> classNames)
    {
        Pool = pool;
        Test = test;
        PoolEntries = poolEntries;
        TestEntries = testEntries;
        ClassNames = classNames;
    }

    /// <summary>The pool's source.</summary>
    public IImageSource Pool { get; }

    /// <summary>The test set's source (the pool's own when the test set is held out of it).</summary>
    public IImageSource Test { get; }

    /// <summary>Positions in <see cref="Pool"/>'s listing that make the pool, in listing order.</summary>
    public IReadOnlyList<int> PoolEntries { get; }

    /// <summary>Positions in <see cref="Test"/>'s listing that make the test set, in listing order.</summary>
    public IReadOnlyList<int> TestEntries { get; }

    /// <summary>The dataset's class names.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Files the sources ignored.</summary>
    public int Ignored => Pool.Ignored + (ReferenceEquals(Test, Pool) ? 0 : Test.Ignored);

    /// <summary>What the listings left out, and why.</summary>
    public IEnumerable<string> Notes => ReferenceEquals(Test, Pool) ? Pool.Notes : Pool.Notes.Concat(Test.Notes);

    /// <summary>
    /// Lists the sources of <paramref name="format"/>: the pool at <paramref name="pool"/>, the test set at
    /// <paramref name="test"/>, or the format's own test split, or <paramref name="testFraction"/> of a labeled pool
    /// held out with <paramref name="seed"/>. Refuses a test set without labels, an unlabeled pool without a test set,
    /// and classes that differ.
    /// </summary>
    public static ImportPlan Open(ImageSourceFormat format, SourceLocation pool, SourceLocation? test,
        double testFraction, long seed)
    {
        var poolSource = format.Open(pool);
        IImageSource? testSource = null;
        try
        {
            testSource = test is not null ? format.Open(test) : format.HasTestSplit
                ? format.Open(pool with { TestSplit = true }) : null;
            return Check(poolSource, testSource, testFraction, seed);
        }
        catch
        {
            poolSource.Dispose();
            testSource?.Dispose();
            throw;
        }
    }

    private static ImportPlan Check(IImageSource pool, IImageSource? test, double testFraction, long seed)
    {
        var poolLabeled = pool.ClassNames.Count > 0;
        if (test is { ClassNames.Count: 0 }) throw new DataFormatException(test.Location,
            "the test set must be labeled (one sub-folder per class, or labels)");
        if (test is null
            && !poolLabeled) throw new ArgumentException("an unlabeled pool needs a labeled test set (--test) to "
            + "measure accuracy");
        if (test is not null && poolLabeled && !pool.ClassNames.SequenceEqual(test.ClassNames))
        {
            throw new DataFormatException(test.Location,
                $"test classes ({Names(test.ClassNames)}) differ from the pool's ({Names(pool.ClassNames)})");
        }
        var classNames = poolLabeled ? pool.ClassNames : test!.ClassNames;
        if (test is not null)
        {
            return new ImportPlan(pool, test, [.. Enumerable.Range(0, pool.Entries.Count)], [.. Enumerable.Range(0,
                test.Entries.Count)], classNames);
        }
        // Held-out split from the import seed: a seeded shuffle, then the first fraction is the test set.
        var rng = SeededRandom.For(seed, "image-import-test-split");
        var order = Enumerable.Range(0, pool.Entries.Count).ToArray();
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var testCount = Math.Max(1, (int)Math.Round(order.Length * testFraction));
        if (testCount >= order.Length) throw new ArgumentException($"{order.Length} images are too few to hold out a "
            + $"test fraction of {testFraction}");
        return new ImportPlan(pool, pool, [.. order.Skip(testCount).Order()], [.. order.Take(testCount).Order()],
            classNames);
    }

    private static string Names(IReadOnlyList<string> names) => string.Join(", ", names.Take(12)) + (names.Count > 12
        ? $", … ({names.Count})" : "");

    /// <inheritdoc />
    public void Dispose()
    {
        Pool.Dispose();
        if (!ReferenceEquals(Test, Pool)) Test.Dispose();
    }
}

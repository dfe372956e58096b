namespace PruneFuse.Learning.Data;

/// <summary>
/// A file or blob (IDX, pool shard, checkpoint) is malformed. The message names the source and the field or
/// problem, e.g. <c>shard-0003.pfs: truncated: header declares 5000 samples (3920048 bytes), file has 1000000</c>.
/// </summary>
public sealed class DataFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="source"/> (a path or blob name).</summary>
    public DataFormatException(string source, string problem, Exception? inner = null)
        : base($"{source}: {problem}", inner)
    {
        SourceName = source;
        Problem = problem;
    }

    /// <summary>The file path or blob name that is malformed.</summary>
    public string SourceName { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}

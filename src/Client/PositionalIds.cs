namespace PruneFuse.Client;

/// <summary>
/// Lets every command that takes <c>--id</c> take the id as its first argument instead
/// (<c>prunefuse experiment status ux1</c>): the argument is rewritten to <c>--id ux1</c> before parsing, so each
/// command keeps one id option with one validation rule.
/// </summary>
internal static class PositionalIds
{
    private static readonly HashSet<(string, string)> Commands =
    [
        ("dataset", "import"), ("dataset", "show"), ("dataset", "delete"),
        ("experiment", "start"), ("experiment", "status"), ("experiment", "cancel"), ("experiment", "report"), ("experiment", "delete"),
        ("selections", "export"), ("labels", "import"), ("model", "export"),
    ];

    /// <summary>The arguments with a bare first argument after an id-taking command turned into <c>--id</c>.</summary>
    public static string[] Rewrite(string[] args)
    {
        for (var i = 0; i + 2 < args.Length; i++)
        {
            if (!Commands.Contains((args[i], args[i + 1]))) continue;
            var candidate = args[i + 2];
            var hasId = args.Skip(i + 2).Any(a => a is "--id" or "--experiment" || a.StartsWith("--id=", StringComparison.Ordinal));
            if (candidate.StartsWith('-') || hasId) return args;
            return [.. args[..(i + 2)], "--id", candidate, .. args[(i + 3)..]];
        }
        return args;
    }
}

namespace PruneFuse.Tests.Shared;

/// <summary>Where the built silo and console are, for tests and benchmarks that run them as separate processes.</summary>
public static class BuildOutput
{
    /// <summary>The repository root (the folder holding PruneFuse.sln).</summary>
    public static string RepoRoot { get; } = FindRoot();

    // bin/<Configuration>/net10.0/ of the running assembly tells which build of the silo and client to run.
    private static string Configuration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>prunefuse-silo.dll of the same configuration.</summary>
    public static string SiloDll => Output("src/Silo", "prunefuse-silo.dll");

    /// <summary>prunefuse.dll (the console) of the same configuration.</summary>
    public static string ClientDll => Output("src/Client", "prunefuse.dll");

    private static string Output(string project, string dll)
    {
        var path = Path.Combine(RepoRoot, project, "bin", Configuration, "net10.0", dll);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: build the solution first", path);
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "PruneFuse.sln"))) return d.FullName;
        }
        throw new InvalidOperationException("repository root (PruneFuse.sln) not found");
    }
}

using System.Diagnostics;

namespace PruneFuse.Tests.Shared;

/// <summary>
/// Runs a script with Debian's /usr/bin/python3 (which has python3-torch and python3-torchvision; a pyenv or venv
/// python on PATH would not). A missing interpreter or module fails the test with the install command: never a skip.
/// </summary>
public static class DebianPython
{
    public const string Interpreter = "/usr/bin/python3";

    /// <summary>Runs <paramref name="script"/> with <paramref name="args"/>; returns its standard output, throws on a
    /// non-zero exit.</summary>
    public static string Run(string script, params string[] args)
    {
        if (!File.Exists(Interpreter))
        {
            throw new InvalidOperationException($"{Interpreter} not found: apt-get install python3-torch python3-torchvision (scripts/test.sh installs them)");
        }
        var psi = new ProcessStartInfo(Interpreter) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode == 0) return stdout.Result;
        foreach (var module in new[] { "torchvision", "torch" })
        {
            if (stderr.Contains($"No module named '{module}'", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{module} is missing for {Interpreter}: apt-get install python3-{module}");
            }
        }
        throw new InvalidOperationException($"python exited {p.ExitCode}: {stderr}{stdout.Result}");
    }
}

using System.Diagnostics;

namespace PruneFuse.Client.Tests;

/// <summary>Runs the real silo and the real `prunefuse` console as separate processes.</summary>
internal static class Processes
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string LastLine => Stdout.TrimEnd().Split('\n')[^1];
    }

    /// <summary>Runs any program to completion (bounded); a missing program fails with the package to install.</summary>
    public static Task<Result> RunAsync(string program, string installHint, params string[] args)
    {
        if (!File.Exists(program)) throw new InvalidOperationException($"{program} not found: {installHint}");
        return RunToExitAsync(program, args, TimeSpan.FromMinutes(3), null);
    }

    /// <summary>Runs the client to completion (bounded).</summary>
    public static Task<Result> ClientAsync(int gatewayPort, params string[] args) =>
        RunToExitAsync("dotnet", [BuildOutput.ClientDll, .. args, "--gateway-port", gatewayPort.ToString()], TimeSpan.FromMinutes(5), null);

    /// <summary>Runs the silo until it exits by itself (a configuration it refuses), bounded.</summary>
    public static Task<Result> SiloUntilExitAsync(Dictionary<string, string>? environment, params string[] args) =>
        RunToExitAsync("dotnet", [BuildOutput.SiloDll, .. args], TimeSpan.FromMinutes(1), environment);

    private static async Task<Result> RunToExitAsync(string program, string[] args, TimeSpan timeout, Dictionary<string, string>? environment)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(program)} {string.Join(' ', args)} did not exit within {timeout}");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }
}

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

    // A cluster silo with TLS is reached with its cluster's admin certificate, unless the test gives --cert itself.
    private static string[] WithCertificate(int gatewayPort, string[] args) =>
        [.. args, "--gateway-port", gatewayPort.ToString(), .. args.Contains("--cert") ? []
            : SiloProcess.ClientArgumentsFor(gatewayPort)];

    /// <summary>Runs the client to completion (bounded).</summary>
    public static Task<Result> ClientAsync(int gatewayPort, params string[] args) =>
        RunToExitAsync("dotnet", [BuildOutput.ClientDll, .. WithCertificate(gatewayPort, args)],
            TimeSpan.FromMinutes(5), null);

    /// <summary>Runs the client to completion (bounded) in <paramref name="workingDirectory"/>, for relative paths.</summary>
    public static Task<Result> ClientInAsync(string workingDirectory, int gatewayPort, params string[] args) =>
        RunToExitAsync("dotnet", [BuildOutput.ClientDll, .. WithCertificate(gatewayPort, args)],
            TimeSpan.FromMinutes(5), null, workingDirectory);

    /// <summary>Runs the silo until it exits by itself (a configuration it refuses), bounded.</summary>
    public static Task<Result> SiloUntilExitAsync(Dictionary<string, string>? environment, params string[] args) =>
        RunToExitAsync("dotnet", [BuildOutput.SiloDll, .. args], TimeSpan.FromMinutes(1), environment);

    /// <summary>A client process left running (for signals and kills); read it with <see cref="Running.WaitAsync"/>.</summary>
    public static Running StartClient(int gatewayPort, params string[] args) =>
        Start("dotnet", [BuildOutput.ClientDll, .. WithCertificate(gatewayPort, args)], null);

    private static Running Start(string program, string[] args, Dictionary<string, string>? environment, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory ?? "" };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? []) psi.Environment[k] = v;
        return new Running(Process.Start(psi)!, $"{Path.GetFileName(program)} {string.Join(' ', args)}");
    }

    /// <summary>A process still running, with its output collected as it comes.</summary>
    public sealed class Running : IDisposable
    {
        private readonly Process _p;
        private readonly string _command;
        private readonly Task<string> _stdout;
        private readonly System.Text.StringBuilder _stderr = new();
        private readonly TaskCompletionSource _stderrDone = new();

        public Running(Process p, string command)
        {
            _p = p;
            _command = command;
            _stdout = p.StandardOutput.ReadToEndAsync();
            p.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) _stderrDone.TrySetResult();
                else lock (_stderr) _stderr.AppendLine(e.Data);
            };
            p.BeginErrorReadLine();
        }

        public int Pid => _p.Id;

        public bool HasExited => _p.HasExited;

        public string Stderr
        {
            get { lock (_stderr) return _stderr.ToString(); }
        }

        /// <summary>Waits for the exit (bounded); returns the result and the seconds waited.</summary>
        public async Task<(Result Result, double Seconds)> WaitAsync(TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await _p.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{_command} did not exit within {timeout}; stderr so far:\n{Stderr}");
            }
            var seconds = clock.Elapsed.TotalSeconds;
            await _stderrDone.Task.WaitAsync(TimeSpan.FromSeconds(10));
            return (new Result(_p.ExitCode, await _stdout, Stderr), seconds);
        }

        public void Dispose()
        {
            if (!_p.HasExited) _p.Kill(entireProcessTree: true);
            _p.Dispose();
        }
    }

    private static async Task<Result> RunToExitAsync(string program, string[] args, TimeSpan timeout, Dictionary<string, string>? environment, string? workingDirectory = null)
    {
        using var running = Start(program, args, environment, workingDirectory);
        return (await running.WaitAsync(timeout)).Result;
    }
}

namespace PruneFuse.Client.Tests;

/// <summary>Debian's Chromium, headless, with its own profile and no network of its own: reads pages as a user sees them.</summary>
internal sealed class HeadlessChromium(string profile, int virtualTimeMs)
{
    private const string Program = "/usr/bin/chromium";

    private string[] Flags =>
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}", $"--virtual-time-budget={virtualTimeMs}",
    ];

    /// <summary>The DOM once the page's scripts have run for the virtual time budget.</summary>
    public Task<Processes.Result> DumpDomAsync(string url) => Processes.RunAsync(Program, "apt-get install chromium", [.. Flags, "--dump-dom", url]);

    /// <summary>A PNG of the page at <paramref name="width"/>×<paramref name="height"/>.</summary>
    public Task<Processes.Result> ScreenshotAsync(string url, string png, int width, int height) =>
        Processes.RunAsync(Program, "apt-get install chromium", [.. Flags, $"--screenshot={png}", $"--window-size={width},{height}", url]);
}

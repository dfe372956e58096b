using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using PruneFuse.Silo.Monitoring;

namespace PruneFuse.Silo.Tests;

/// <summary>The link from the dashboard's page to PruneFuse's, added on the way out, and nothing else touched.</summary>
public sealed class ExperimentsPageTests
{
    private const string Shell = "<!DOCTYPE html><html><head></head><body><div id=\"root\"></div></body></html>";

    [Fact]
    public async Task The_dashboard_shell_gets_the_link_and_its_other_files_pass_unchanged()
    {
        var port = Ports.Free();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        await using var app = builder.Build();
        app.UseDashboardLink("/dashboard");
        // Stands in for the Orleans dashboard: its HTML shell, a script, and a JSON answer.
        app.MapGet("/dashboard/", () => Results.Content(Shell, "text/html"));
        app.MapGet("/dashboard/index.min.js", () => Results.Content("console.log('</body>')", "text/javascript"));
        app.MapGet("/dashboard/DashboardCounters", () => Results.Json(new { body = "</body>" }));
        await app.StartAsync(TestContext.Current.CancellationToken);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        var page = await http.GetStringAsync("/dashboard/", TestContext.Current.CancellationToken);
        Assert.Equal(Shell.Replace("</body>", ExperimentsPage.LinkHtml + "</body>", StringComparison.Ordinal), page);
        Assert.Contains("href=\"/prunefuse\"", page);
        Assert.Equal("console.log('</body>')", await http.GetStringAsync("/dashboard/index.min.js", TestContext.Current.CancellationToken));
        Assert.Equal("{\"body\":\"</body>\"}", await http.GetStringAsync("/dashboard/DashboardCounters", TestContext.Current.CancellationToken));
        var missing = await http.GetAsync("/dashboard/index.html", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        await app.StopAsync(TestContext.Current.CancellationToken);
    }
}

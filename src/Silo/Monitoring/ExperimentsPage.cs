using System.Text;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Silo.Monitoring;

/// <summary>
/// PruneFuse's page next to the Orleans dashboard (which has no plug-in model): experiments with state, stage, round
/// and labeled count, the current round's scoring per silo, training progress and the learning curve, updating
/// live. Served at <see cref="Path"/>, behind the same authentication, and linked from the dashboard's page.
/// </summary>
public static class ExperimentsPage
{
    /// <summary>Where the page is served.</summary>
    public const string Path = "/prunefuse";

    /// <summary>The JSON the page polls: <c>{ silo, experiments: [status…] }</c>, camelCase, enums as lower-case names.</summary>
    public const string ApiPath = "/prunefuse/api/experiments";

    private static readonly Lazy<byte[]> Html = new(() =>
    {
        using var s = typeof(ExperimentsPage).Assembly.GetManifestResourceStream("PruneFuse.Silo.Monitoring.experiments.html")
            ?? throw new InvalidOperationException("the experiments page is missing from the silo's resources");
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    });

    /// <summary>Maps the page and its API.</summary>
    public static void MapExperimentsPage(this WebApplication app)
    {
        app.MapGet(Path, () => Results.Bytes(Html.Value, "text/html; charset=utf-8"));
        app.MapGet(ApiPath, async (IGrainFactory grains, ILocalSiloDetails silo, CancellationToken ct) =>
        {
            var experiments = await grains.GetGrain<ICatalogGrain>(0).ListExperiments().WaitAsync(ct);
            return Results.Json(new { silo = silo.SiloAddress.ToParsableString(), experiments }, ContractJson.Options);
        });
    }

    /// <summary>
    /// Adds a link to this page into the dashboard's HTML shell (the dashboard itself offers no place for one).
    /// Only the shell is touched: its scripts and API answers pass through unchanged.
    /// </summary>
    public static void UseDashboardLink(this WebApplication app, string dashboardPath)
    {
        app.Use(async (context, next) =>
        {
            var path = context.Request.Path.Value ?? "";
            if (!HttpMethods.IsGet(context.Request.Method) || !(path == dashboardPath || path == dashboardPath + "/" || path == dashboardPath + "/index.html"))
            {
                await next(context);
                return;
            }
            // The shell is small; ask for it uncompressed so it can be edited.
            context.Request.Headers.AcceptEncoding = "identity";
            var original = context.Response.Body;
            using var buffer = new MemoryStream();
            context.Response.Body = buffer;
            try
            {
                await next(context);
            }
            finally
            {
                context.Response.Body = original;
            }
            var bytes = buffer.ToArray();
            if (context.Response.StatusCode == StatusCodes.Status200OK && context.Response.ContentType?.StartsWith("text/html", StringComparison.OrdinalIgnoreCase) == true)
            {
                var html = Encoding.UTF8.GetString(bytes);
                var at = html.LastIndexOf("</body>", StringComparison.OrdinalIgnoreCase);
                if (at >= 0)
                {
                    bytes = Encoding.UTF8.GetBytes(html.Insert(at, LinkHtml));
                    context.Response.ContentLength = bytes.Length;
                }
            }
            await original.WriteAsync(bytes, context.RequestAborted);
        });
    }

    /// <summary>The link added to the dashboard: fixed in the top right corner, above the dashboard's own layout.</summary>
    internal const string LinkHtml =
        "<a id=\"prunefuse-link\" href=\"" + Path + "\" style=\"position:fixed;top:8px;right:12px;z-index:10000;padding:4px 10px;" +
        "background:#0b63c5;color:#fff;border-radius:4px;font:13px system-ui,sans-serif;text-decoration:none\">PruneFuse experiments</a>";
}

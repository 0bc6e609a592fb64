using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Mvc.RazorPages;
using StoreLink.Server.Accounts;

namespace StoreLink.Server.Web.Console;

/// <summary>What every console page knows: the language, its strings, and for a signed-in page the staff member and token.</summary>
public abstract class ConsolePage(ConsoleStrings strings) : PageModel
{
    public ConsoleStrings Strings { get; } = strings;

    public string Lang => ConsoleStrings.LanguageOf(HttpContext);

    public string T(string key) => Strings.Get(Lang, key);

    public CurrentUser? Staff => HttpContext.Items[CurrentUser.ItemKey] as CurrentUser;

    public string? Token => ConsoleSessionHandler.TokenOf(HttpContext);

    /// <summary>The page's own script module under <c>/console/assets/js</c>, or none.</summary>
    public virtual string? Script => null;

    public override void OnPageHandlerExecuted(Microsoft.AspNetCore.Mvc.Filters.PageHandlerExecutedContext context)
    {
        // The page carries an access token: never cache it, never frame it, and load scripts only from here.
        var headers = Response.Headers;
        headers.CacheControl = "no-store";
        headers["X-Frame-Options"] = "DENY";
        headers["Referrer-Policy"] = "same-origin";
        var janus = HttpContext.RequestServices.GetRequiredService<IOptions<Calls.CallsOptions>>().Value.Janus.ConnectSource;
        headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; " +
                                        $"connect-src 'self' ws: wss:{janus}; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'";
    }
}

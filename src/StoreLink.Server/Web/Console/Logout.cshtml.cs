using Microsoft.AspNetCore.Mvc;
using StoreLink.Server.Accounts;

namespace StoreLink.Server.Web.Console;

/// <summary>Sign-out (a form post with the antiforgery token): revokes the session's access token, which also closes the page's sockets.</summary>
public sealed class LogoutModel(ConsoleStrings strings, AuthActions auth) : ConsolePage(strings)
{
    public IActionResult OnGet() => Redirect("/console");

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (Staff is { } user)
            await auth.LogoutAsync(user, ct);
        Response.Cookies.Delete(ConsoleSessionHandler.CookieName, ConsoleSessionHandler.CookieOptions(Request, null));
        return Redirect("/console/login");
    }
}

using Microsoft.AspNetCore.Mvc;
using StoreLink.Server.Http;

namespace StoreLink.Server.Web.Console;

/// <summary><c>/console/language?to=en</c>: remembers the language in a cookie and goes back. Signed in or not.</summary>
[Microsoft.AspNetCore.Authorization.AllowAnonymous]
public sealed class LanguageModel(ConsoleStrings strings) : ConsolePage(strings)
{
    public IActionResult OnGet(string? to, string? return_url)
    {
        var language = Texts.Languages.Contains(to) ? to! : Texts.DefaultLanguage;
        Response.Cookies.Append(Texts.LanguageCookie, language, new CookieOptions
        {
            Path = "/console", SameSite = SameSiteMode.Lax, Secure = Request.IsHttps, Expires = DateTimeOffset.UtcNow.AddYears(1), IsEssential = true,
        });
        var back = return_url is "/console/login" ? return_url : LoginModel.SafeReturn(return_url);
        return LocalRedirect(back);
    }
}
